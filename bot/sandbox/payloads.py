"""Slack's request payloads, built the way Slack documents them (../shared/slack/PAYLOADS.md).

One builder per payload type: the slash command form (and its ``ssl_check`` probe),
block_actions, view_submission, block_suggestion and message_action. Each takes the person's
identity (``Who``) and the surface they acted on, and answers each element with the state keys
that element type has in Slack (a datepicker's ``selected_date``, a select's
``selected_option``…), never with the keys our handlers happen to read.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

APP_ID = "A0TICKETBOT"
BOT_ID = "B0BOT"
TOKEN = "legacy-verification-token"

# Element types whose value lands in a view's state.values (buttons and overflows do not).
STATEFUL = {
    "plain_text_input",
    "email_text_input",
    "url_text_input",
    "number_input",
    "rich_text_input",
    "datepicker",
    "timepicker",
    "datetimepicker",
    "static_select",
    "external_select",
    "users_select",
    "conversations_select",
    "channels_select",
    "radio_buttons",
    "multi_static_select",
    "multi_external_select",
    "multi_users_select",
    "multi_conversations_select",
    "multi_channels_select",
    "checkboxes",
    "file_input",
}
# element type -> (its key in state and in an action, the element's key for its initial value)
_KEYS = {
    "plain_text_input": ("value", "initial_value"),
    "email_text_input": ("value", "initial_value"),
    "url_text_input": ("value", "initial_value"),
    "number_input": ("value", "initial_value"),
    "rich_text_input": ("rich_text_value", "initial_value"),
    "datepicker": ("selected_date", "initial_date"),
    "timepicker": ("selected_time", "initial_time"),
    "datetimepicker": ("selected_date_time", "initial_date_time"),
    "static_select": ("selected_option", "initial_option"),
    "external_select": ("selected_option", "initial_option"),
    "radio_buttons": ("selected_option", "initial_option"),
    "overflow": ("selected_option", ""),
    "multi_static_select": ("selected_options", "initial_options"),
    "multi_external_select": ("selected_options", "initial_options"),
    "checkboxes": ("selected_options", "initial_options"),
    "users_select": ("selected_user", "initial_user"),
    "multi_users_select": ("selected_users", "initial_users"),
    "conversations_select": ("selected_conversation", "initial_conversation"),
    "multi_conversations_select": ("selected_conversations", "initial_conversations"),
    "channels_select": ("selected_channel", "initial_channel"),
    "multi_channels_select": ("selected_channels", "initial_channels"),
    "file_input": ("files", ""),
}
_LISTS = {
    "selected_options",
    "selected_users",
    "selected_conversations",
    "selected_channels",
    "files",
}
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


def channel_name(channel_id: str) -> str:
    """The channel_name Slack sends: ``directmessage`` in a one-to-one DM."""
    return "directmessage" if channel_id.startswith("D") else "general"


def slash_command(
    who: Who,
    text: str,
    *,
    command: str = "/ticket",
    channel_id: str = "C0GENERAL",
    response_url: str = "",
    trigger_id: str = "trigger.1",
) -> str:
    """The form-encoded body of a slash command, ``enterprise_*`` only on Enterprise Grid."""
    form = {"token": TOKEN, "team_id": who.team_id, "team_domain": who.team_domain}
    if who.enterprise_id:
        form |= {"enterprise_id": who.enterprise_id, "enterprise_name": who.enterprise_name}
    form |= {
        "channel_id": channel_id,
        "channel_name": channel_name(channel_id),
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


# Elements and their state --------------------------------------------------------------------


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _auto_id(*parts: Any) -> str:
    """Slack gives blocks and elements without an id a random one; ours is stable per content."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:5]


def with_ids(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``blocks`` as Slack echoes them back: every block and element has its id."""
    out = []
    for index, block in enumerate(blocks):
        block = {**block, "block_id": block.get("block_id") or _auto_id(index, block)}
        if "element" in block:
            block["element"] = _with_action_id(block["element"])
        if "accessory" in block:
            block["accessory"] = _with_action_id(block["accessory"])
        if "elements" in block and block["type"] == "actions":
            block["elements"] = [_with_action_id(e) for e in block["elements"]]
        out.append(block)
    return out


def _with_action_id(element: dict[str, Any]) -> dict[str, Any]:
    return {**element, "action_id": element.get("action_id") or _auto_id(element)}


def elements(blocks: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every interactive element of ``blocks`` as (block_id, element)."""
    for block in with_ids(blocks):
        for element in (block.get("element"), block.get("accessory"), *block_elements(block)):
            if isinstance(element, dict) and "action_id" in element:
                yield block["block_id"], element


def block_elements(block: dict[str, Any]) -> list[Any]:
    return block.get("elements", []) if block.get("type") == "actions" else []


def find_element(
    blocks: list[dict[str, Any]], action_id: str, value: Any = None
) -> tuple[str, dict[str, Any]] | None:
    """The element with ``action_id`` (and, for buttons, ``value`` when several share it)."""
    found = [(b, e) for b, e in elements(blocks) if e["action_id"] == action_id]
    exact = [(b, e) for b, e in found if e.get("value") == value]
    return (exact or found or [None])[0]


def _option(element: dict[str, Any], value: Any) -> dict[str, Any]:
    """The option object Slack reports for a chosen ``value`` (its text from the element)."""
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options += group.get("options") or []
    for option in options:
        if option.get("value") == value:
            return {"text": option["text"], "value": value}
    return {"text": _plain(str(value)), "value": value}


def _rich_text(text: str) -> dict[str, Any]:
    return {
        "type": "rich_text",
        "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}],
    }


def chosen(element: dict[str, Any], value: Any) -> Any:
    """What Slack reports under the element's state key after the user chose ``value``."""
    kind = element["type"]
    key = _KEYS.get(kind, ("value", ""))[0]
    if value is None:
        return [] if key in _LISTS else None
    if key == "selected_option":
        return _option(element, value)
    if key == "selected_options":
        return [_option(element, v) for v in value]
    if key == "rich_text_value":
        return value if isinstance(value, dict) else _rich_text(str(value))
    if key == "selected_date_time":
        return int(value)
    if kind == "number_input":
        return str(value)
    return value


def _initial(element: dict[str, Any]) -> Any:
    """The element's state before anyone touched it: its ``initial_*``, else Slack's empty."""
    key, initial_key = _KEYS.get(element["type"], ("value", "initial_value"))
    initial = element.get(initial_key) if initial_key else None
    if initial is None:
        return chosen(element, None)
    if key == "selected_option":
        return {"text": initial["text"], "value": initial["value"]}
    if key == "selected_options":
        return [{"text": o["text"], "value": o["value"]} for o in initial]
    return chosen(element, initial)


def element_state(element: dict[str, Any], value: Any = None, *, changed: bool = True) -> dict:
    """One element's entry in ``state.values``: ``{"type", <its own key>: …}``."""
    key = _KEYS.get(element["type"], ("value", ""))[0]
    current = chosen(element, value) if changed else _initial(element)
    return {"type": element["type"], key: current}


def view_state(view: dict[str, Any], values: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``state`` for ``view`` after a user entered ``values``: every stateful element of every
    block (input, actions, section), keyed block_id then action_id.

    ``values`` is keyed by block_id (or by action_id, for an element in an actions block); an
    element not in ``values`` keeps its ``initial_*`` or Slack's empty value.
    """
    values = values or {}
    state: dict[str, dict[str, Any]] = {}
    for block_id, element in elements(view.get("blocks") or []):
        if element["type"] not in STATEFUL:
            continue
        for key in (block_id, element["action_id"]):
            if key in values:
                entry = element_state(element, values[key])
                break
        else:
            entry = element_state(element, changed=False)
        state.setdefault(block_id, {})[element["action_id"]] = entry
    return {"values": state}


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
        act["text"] = element.get("text") or _plain("Button")
        if "value" in element or value is not None:
            act["value"] = element.get("value", value) if value is None else value
        if "style" in element:
            act["style"] = element["style"]
        return act
    act[_KEYS.get(kind, ("value", ""))[0]] = chosen(element, value)
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
        payload["channel"] = {"id": channel_id, "name": channel_name(channel_id or "C")}
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
        out.append(_escape_plain(text[last : match.start()]))
        out.append("<" + match.group()[1:-1].replace("&", "&amp;") + ">")
        last = match.end()
    out.append(_escape_plain(text[last:]))
    return "".join(out)


def _escape_plain(text: str) -> str:
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
        "blocks": [{"type": "rich_text", "block_id": _auto_id(ts), "elements": []}],
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
        "channel": {"id": channel_id, "name": channel_name(channel_id)},
        "message": msg,
        "response_url": response_url,
    }
