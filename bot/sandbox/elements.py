"""Block Kit elements as Slack reports them back: each element type's own state key, the state
of a whole view, and the ids Slack gives blocks and elements that have none.

Facts from Slack's block element and view state references (../shared/slack/PAYLOADS.md).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import Any

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


def plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def auto_id(*parts: Any) -> str:
    """Slack gives blocks and elements without an id a random one; ours is stable per content."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:5]


def with_ids(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``blocks`` as Slack echoes them back: every block and element has its id."""
    out = []
    for index, block in enumerate(blocks):
        block = {**block, "block_id": block.get("block_id") or auto_id(index, block)}
        if "element" in block:
            block["element"] = _with_action_id(block["element"])
        if "accessory" in block:
            block["accessory"] = _with_action_id(block["accessory"])
        if "elements" in block and block["type"] == "actions":
            block["elements"] = [_with_action_id(e) for e in block["elements"]]
        out.append(block)
    return out


def _with_action_id(element: dict[str, Any]) -> dict[str, Any]:
    return {**element, "action_id": element.get("action_id") or auto_id(element)}


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
    return {"text": plain(str(value)), "value": value}


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
    known = {key for block_id, acts in state.items() for key in (block_id, *acts)}
    if unknown := set(values) - known:  # a typo in a test would otherwise submit nothing
        raise ValueError(f"no stateful element {sorted(unknown)} in this view")
    return {"values": state}


def state_key(kind: str) -> str:
    """The key an element type reports its state (and an action its choice) under."""
    return _KEYS.get(kind, ("value", ""))[0]
