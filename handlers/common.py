"""Small helpers shared by listeners: reading payloads and telling a user something."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import as_dicts
from bot.ids import FIELD_ACTION

log = logging.getLogger(__name__)


def view_values(view: dict[str, Any]) -> dict[str, str | None]:
    """Flatten a view's state to {block_id: value} for inputs that use FIELD_ACTION."""
    values: dict[str, str | None] = {}
    for block_id, actions in view.get("state", {}).get("values", {}).items():
        state = actions.get(FIELD_ACTION)
        if state is None:
            continue
        if state.get("type") == "static_select":
            selected = state.get("selected_option")
            values[block_id] = selected["value"] if selected else None
        else:
            values[block_id] = state.get("value")
    return values


def metadata(view: dict[str, Any]) -> dict[str, Any]:
    """A view's private_metadata as a dict (empty when absent or not ours)."""
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def team_and_user(body: dict[str, Any]) -> tuple[str, str]:
    """(team_id, user_id) of whoever sent this command or interaction."""
    if "user_id" in body:  # slash commands
        return body["team_id"], body["user_id"]
    team = body.get("team") or {}
    return team.get("id") or body["user"].get("team_id", ""), body["user"]["id"]


async def tell_user(
    client: AsyncWebClient,
    user_id: str,
    text: str,
    *,
    channel_id: str | None = None,
    blocks: list | None = None,
) -> None:
    """Say something only ``user_id`` sees: ephemeral in the channel, else a DM from the bot.

    Ephemeral posts fail where the bot is not a member (private channels, some DMs); the DM is the
    fallback so the user is never left without an answer.
    """
    payload: dict[str, Any] = {"text": text}
    if blocks:
        payload["blocks"] = as_dicts(blocks)
    if channel_id:
        try:
            await client.chat_postEphemeral(channel=channel_id, user=user_id, **payload)
            return
        except SlackApiError as exc:
            log.info(
                "ephemeral to %s failed (%s); sending a DM", channel_id, exc.response.get("error")
            )
    await client.chat_postMessage(channel=user_id, **payload)
