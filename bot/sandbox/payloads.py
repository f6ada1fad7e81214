"""Slack's request payloads, built the way Slack documents them (../shared/slack/PAYLOADS.md).

One builder per payload type: the slash command form (and its ``ssl_check`` probe),
block_actions, view_submission, block_suggestion and message_action, and the Events API's
event_callback envelope with its events (message, app_home_opened, app_uninstalled,
tokens_revoked) and url_verification. Each takes the person's
identity (``Who``) and the surface they acted on, and answers each element with the state keys
that element type has in Slack (a datepicker's ``selected_date``, a select's
``selected_option``…), never with the keys our handlers happen to read.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from bot.sandbox.elements import auto_id, chosen, plain, state_key, view_state, with_ids

APP_ID = "A0TICKETBOT"
BOT_ID = "B0BOT"
TOKEN = "legacy-verification-token"

_SPECIAL = re.compile(r"<(?:[@#!]|https?://|mailto:)[^<>]*>")


@dataclass(frozen=True)
class Who:
    """Who acts, and where: the identity fields every payload carries.

    ``enterprise_id`` puts the workspace in an Enterprise Grid org; ``org_install`` makes the app
    installed org-wide (``is_enterprise_install``; view payloads then carry ``team: null``).
    ``home_team_id`` is the person's own workspace, which on Grid may differ from ``team_id``.
    """

    user_id: str
    team_id: str = "T0SANDBOX"
    team_domain: str = "sandbox"
    enterprise_id: str | None = None
    enterprise_name: str = "Sandbox Org"
    org_install: bool = False
    home_team_id: str | None = None

    def user(self) -> dict[str, Any]:
        name = self.user_id.lower()
        return {
            "id": self.user_id,
            "username": name,
            "name": name,
            "team_id": self.home_team_id or self.team_id,
        }

    def team(self, *, in_view: bool = False) -> dict[str, Any] | None:
        if self.org_install and in_view:
            return None
        team: dict[str, Any] = {"id": self.team_id, "domain": self.team_domain}
        if self.enterprise_id:
            team["enterprise_id"] = self.enterprise_id
        return team

    def enterprise(self) -> dict[str, str] | None:
        if self.enterprise_id is None:
            return None
        return {"id": self.enterprise_id, "name": self.enterprise_name}

    def envelope(self, trigger_id: str | None, *, in_view: bool = False) -> dict[str, Any]:
        """The fields every interaction payload starts with."""
        fields = {
            "user": self.user(),
            "api_app_id": APP_ID,
            "token": TOKEN,
            "team": self.team(in_view=in_view),
            "enterprise": self.enterprise(),
            "is_enterprise_install": self.org_install,
        }
        if trigger_id is not None:
            fields["trigger_id"] = trigger_id
        return fields


def form_body(payload: Mapping[str, Any]) -> str:
    """An interaction payload as Slack posts it: form-encoded, JSON under ``payload``."""
    return urlencode({"payload": json.dumps(payload)})


# Slash commands -------------------------------------------------------------------------------


def channel_name_of(channel_id: str) -> str:
    """The channel_name Slack sends: ``directmessage`` in a one-to-one DM."""
    return "directmessage" if channel_id.startswith("D") else "general"


def slash_command(
    who: Who,
    text: str,
    *,
    command: str = "/ticket",
    channel_id: str = "C0GENERAL",
    channel_name: str | None = None,
    response_url: str = "",
    trigger_id: str = "trigger.1",
) -> str:
    """The form-encoded body of a slash command, ``enterprise_*`` only on Enterprise Grid."""
    form = {"token": TOKEN, "team_id": who.team_id, "team_domain": who.team_domain}
    if who.enterprise_id:
        form |= {"enterprise_id": who.enterprise_id, "enterprise_name": who.enterprise_name}
    form |= {
        "channel_id": channel_id,
        "channel_name": channel_name or channel_name_of(channel_id),
        "user_id": who.user_id,
        "user_name": who.user_id.lower(),
        "command": command,
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "true" if who.org_install else "false",
        "response_url": response_url,
        "trigger_id": trigger_id,
    }
    return urlencode(form)


def ssl_check() -> str:
    """Slack's certificate probe: no command, nothing to run."""
    return urlencode({"ssl_check": "1", "token": TOKEN})


def full_view(
    view: dict[str, Any],
    who: Who,
    *,
    view_id: str,
    view_hash: str,
    values: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The view object Slack puts in a payload: the view the app sent plus Slack's own fields."""
    return {
        "id": view_id,
        "team_id": who.team_id,
        "type": view.get("type", "modal"),
        "blocks": with_ids(view.get("blocks") or []),
        "private_metadata": view.get("private_metadata", ""),
        "callback_id": view.get("callback_id", ""),
        "state": view_state(view, values),
        "hash": view_hash,
        "title": view.get("title"),
        "clear_on_close": view.get("clear_on_close", False),
        "notify_on_close": view.get("notify_on_close", False),
        "close": view.get("close"),
        "submit": view.get("submit"),
        "previous_view_id": None,
        "root_view_id": view_id,
        "app_id": APP_ID,
        "external_id": view.get("external_id", ""),
        "app_installed_team_id": who.team_id,
        "bot_id": BOT_ID,
    }


# Interaction payloads --------------------------------------------------------------------------


def action(block_id: str, element: dict[str, Any], value: Any) -> dict[str, Any]:
    """One entry of block_actions' ``actions``: the element's own keys, not every key at once."""
    kind = element["type"]
    act: dict[str, Any] = {
        "type": kind,
        "action_id": element["action_id"],
        "block_id": block_id,
        "action_ts": f"{time.time():.6f}",
    }
    if kind == "button":
        act["text"] = element.get("text") or plain("Button")
        if "value" in element or value is not None:
            act["value"] = element.get("value", value) if value is None else value
        if "style" in element:
            act["style"] = element["style"]
        return act
    act[state_key(kind)] = chosen(element, value)
    if "placeholder" in element:
        act["placeholder"] = element["placeholder"]
    return act


def block_actions(
    who: Who,
    act: dict[str, Any],
    *,
    trigger_id: str,
    view: dict[str, Any] | None = None,
    channel_id: str | None = None,
    message: dict[str, Any] | None = None,
    message_ts: str = "1700000000.000100",
    ephemeral: bool = False,
    response_url: str = "",
) -> dict[str, Any]:
    """A click in a modal (``view``: the full view object) or in a message in ``channel_id``.

    An ephemeral message has no ``message`` in the payload, only ``container.is_ephemeral``.
    """
    payload = {"type": "block_actions", **who.envelope(trigger_id, in_view=view is not None)}
    if view is not None:
        payload["container"] = {"type": "view", "view_id": view["id"]}
        payload["view"] = view
    else:
        payload["container"] = {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": ephemeral,
        }
        payload["channel"] = {"id": channel_id, "name": channel_name_of(channel_id or "C")}
        if not ephemeral:
            payload["message"] = {
                "type": "message",
                "subtype": "bot_message",
                "bot_id": BOT_ID,
                "app_id": APP_ID,
                "text": "",
                "blocks": [],
                **(message or {}),
                "ts": message_ts,
            }
        payload["state"] = {"values": {}}
        payload["response_url"] = response_url
    payload["actions"] = [act]
    return payload


def view_submission(who: Who, view: dict[str, Any], *, trigger_id: str) -> dict[str, Any]:
    """A modal's submit button; ``view`` is the full view object with its state."""
    return {
        "type": "view_submission",
        **who.envelope(trigger_id, in_view=True),
        "view": view,
        "response_urls": [],
    }


def block_suggestion(
    who: Who, block_id: str, action_id: str, typed: str, view: dict[str, Any]
) -> dict[str, Any]:
    """An external select asking for its options while the user types ``typed``."""
    return {
        "type": "block_suggestion",
        **who.envelope(None, in_view=True),
        "container": {"type": "view", "view_id": view["id"]},
        "action_id": action_id,
        "block_id": block_id,
        "value": typed,
        "view": view,
    }


def escape(text: str) -> str:
    """``text`` as Slack delivers a message's ``text``: ``& < >`` escaped, while Slack's own
    sequences (``<@U…>``, ``<#C…|name>``, ``<!here>``, ``<url|label>``) stay markup."""
    out, last = [], 0
    for match in _SPECIAL.finditer(text):
        out.append(_escapeplain(text[last : match.start()]))
        out.append("<" + match.group()[1:-1].replace("&", "&amp;") + ">")
        last = match.end()
    out.append(_escapeplain(text[last:]))
    return "".join(out)


def _escapeplain(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def message(
    text: str,
    *,
    ts: str = "1763900000.123400",
    user: str = "U0CUSTOMER",
    thread_ts: str | None = None,
) -> dict[str, Any]:
    """A person's message as Slack hands it to a shortcut: ``text`` escaped, rich_text blocks."""
    msg: dict[str, Any] = {
        "type": "message",
        "user": user,
        "ts": ts,
        "text": escape(text),
        "blocks": [{"type": "rich_text", "block_id": auto_id(ts), "elements": []}],
        "team": "T0SANDBOX",
    }
    if thread_ts:
        msg["thread_ts"] = thread_ts
    return msg


def message_action(
    who: Who,
    callback_id: str,
    msg: dict[str, Any],
    *,
    channel_id: str,
    trigger_id: str,
    response_url: str,
) -> dict[str, Any]:
    """A message shortcut used on ``msg`` in ``channel_id``."""
    return {
        "type": "message_action",
        **who.envelope(trigger_id),
        "callback_id": callback_id,
        "action_ts": f"{time.time():.6f}",
        "message_ts": msg["ts"],
        "channel": {"id": channel_id, "name": channel_name_of(channel_id)},
        "message": msg,
        "response_url": response_url,
    }


# Events API --------------------------------------------------------------------------------------


def event_callback(
    event: Mapping[str, Any],
    *,
    team_id: str | None,
    enterprise_id: str | None = None,
    org_install: bool = False,
    bot_user_id: str = "U0BOT",
    event_id: str | None = None,
) -> dict[str, Any]:
    """The Events API envelope Slack posts (api.slack.com/apis/events-api, "Callback field
    overview"): ``event`` inside, the installation it is delivered for in ``authorizations``."""
    now = int(time.time())
    payload: dict[str, Any] = {
        "token": TOKEN,
        "team_id": team_id,
        "api_app_id": APP_ID,
        "event": {"event_ts": f"{now}.000100", **event},
        "type": "event_callback",
        "event_id": event_id or f"Ev{time.time_ns():X}",
        "event_time": now,
        "authorizations": [
            {
                "enterprise_id": enterprise_id,
                "team_id": None if org_install else team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": org_install,
            }
        ],
        "is_ext_shared_channel": False,
    }
    if enterprise_id:
        payload["enterprise_id"] = enterprise_id
    return payload


def message_event(
    text: str,
    *,
    user: str,
    channel: str,
    ts: str,
    thread_ts: str | None = None,
    team_id: str = "T0SANDBOX",
    files: Sequence[Mapping[str, Any]] = (),
    bot_id: str | None = None,
    edited_from: str | None = None,
) -> dict[str, Any]:
    """A ``message`` event (api.slack.com/events/message, delivered for ``message.channels`` /
    ``message.groups``): ``text`` escaped as Slack escapes it, ``thread_ts`` on a reply (the
    parent's ts; a reply's own ``ts`` differs), ``channel_type`` "channel" ("group" for a
    private channel's G… id).

    Variants, as Slack documents them: ``files`` makes it subtype ``file_share`` with the file
    objects; ``bot_id`` a bot's message (subtype ``bot_message``, no ``user``); ``edited_from``
    subtype ``message_changed``, the edited ``message`` nested inside and ``previous_message``
    holding the old text."""
    message: dict[str, Any] = {
        "type": "message",
        "user": user,
        "text": escape(text),
        "ts": ts,
        "team": team_id,
        "blocks": [{"type": "rich_text", "block_id": auto_id(ts), "elements": []}],
        "client_msg_id": f"{time.time_ns():x}",
    }
    if thread_ts:
        message["thread_ts"] = thread_ts
        message["parent_user_id"] = "U0BOT"
    where = {"channel": channel, "channel_type": "group" if channel[:1] == "G" else "channel"}
    if edited_from is not None:
        message["edited"] = {"user": user, "ts": f"{time.time():.6f}"}
        previous = {**message, "text": escape(edited_from)}
        del previous["edited"]
        return {
            "type": "message",
            "subtype": "message_changed",
            "hidden": True,
            "message": message,
            "previous_message": previous,
            "ts": f"{time.time():.6f}",
            **where,
        }
    if bot_id is not None:
        del message["user"], message["client_msg_id"]
        message.update(subtype="bot_message", bot_id=bot_id, username="ticketbot")
    elif files:
        message.update(subtype="file_share", files=[dict(f) for f in files], upload=False)
    return {**message, **where}


def app_uninstalled() -> dict[str, Any]:
    """The ``app_uninstalled`` event (it carries nothing but its type)."""
    return {"type": "app_uninstalled"}


def tokens_revoked(*, bot: Sequence[str] = (), oauth: Sequence[str] = ()) -> dict[str, Any]:
    """The ``tokens_revoked`` event: user ids whose user tokens (``oauth``) or bot tokens
    (``bot``) were revoked."""
    return {"type": "tokens_revoked", "tokens": {"oauth": list(oauth), "bot": list(bot)}}


def app_home_opened(
    user_id: str, *, tab: str = "home", view: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The ``app_home_opened`` event (api.slack.com/events/app_home_opened): who opened the
    app's Home, its DM channel, which ``tab`` ("home" or "messages"), and ``view``, the Home
    tab's current view, only once a view was published for that person."""
    event: dict[str, Any] = {
        "type": "app_home_opened",
        "user": user_id,
        "channel": "D" + user_id[1:],
        "tab": tab,
        "event_ts": f"{time.time():.6f}",
    }
    if view is not None:
        event["view"] = dict(view)
    return event


def url_verification(challenge: str) -> dict[str, Any]:
    """What Slack posts to a new Request URL; the app must echo ``challenge``."""
    return {"token": TOKEN, "challenge": challenge, "type": "url_verification"}


def json_body(payload: Mapping[str, Any]) -> str:
    """An Events API payload as Slack posts it: a JSON body."""
    return json.dumps(payload)
