"""The door of POST /slack/events: what a request must pass before Bolt or a listener sees it.

In this order, each step before the next one reads more of the request:
1. Slack's signature, an HMAC over the raw bytes, and its 5-minute timestamp window. Nothing
   parses the body before this: unsigned junk costs one HMAC and one log line, never a trace.
2. The replay memory: a signed request already processed (the same signature within the window,
   or a Slack retry of a body already processed) is answered 200 and not run again.
3. The shape: the body parses the way Bolt will parse it, and carries the fields Bolt and the
   listeners rely on, with the types Slack sends. A signed request that fails here came from
   whoever holds the signing secret, not from a person clicking, so it gets a silent 200.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from slack_bolt.request.internals import parse_body

from bot.store import RequestMemory

# Slack's own window: a signature older (or newer) than this is refused.
SIGNATURE_WINDOW_SECONDS = 5 * 60
# A timestamp up to the window in the future stays valid for twice the window from now.
REPLAY_MEMORY_SECONDS = 2 * SIGNATURE_WINDOW_SECONDS


@dataclass(frozen=True)
class Verdict:
    """What the door decided: ``status`` None lets the request through to Bolt."""

    status: int | None
    reason: str = ""

    @property
    def refused(self) -> bool:
        return self.status is not None


PASS = Verdict(None)


def signature_problem(
    secret: str, body: bytes, headers: Mapping[str, str], now: float | None = None
) -> str | None:
    """Why the request is not signed by Slack (None when it is); reads no more than headers."""
    timestamp = headers.get("X-Slack-Request-Timestamp", "")
    signature = headers.get("X-Slack-Signature", "")
    if not timestamp or not signature:
        return "unsigned"
    if not timestamp.isascii() or not timestamp.isdigit():
        return "bad timestamp"
    # Compared as ints: a 400-digit timestamp would overflow a float and crash before the check.
    if abs(int(time.time() if now is None else now) - int(timestamp)) > SIGNATURE_WINDOW_SECONDS:
        return "stale timestamp"
    mac = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256)
    if not hmac.compare_digest(f"v0={mac.hexdigest()}", signature):
        return "bad signature"
    return None


async def replay_problem(
    memory: RequestMemory, body: bytes, headers: Mapping[str, str]
) -> str | None:
    """Why this signed request must not run again (None when it is new)."""
    body_key = "body:" + hashlib.sha256(body).hexdigest()
    first = await memory.remember_request(
        "sig:" + headers["X-Slack-Signature"], REPLAY_MEMORY_SECONDS
    )
    # Every body is remembered, but only a retry is refused on it: two different requests
    # never share a body in real Slack traffic (trigger ids, event ids), yet a retry does.
    body_first = await memory.remember_request(body_key, REPLAY_MEMORY_SECONDS)
    if not first:
        return "replay"
    if headers.get("X-Slack-Retry-Num") and not body_first:
        return "retry of a processed request"
    return None


class _Shape(BaseModel):
    # Strict: a number where Slack sends a string is malformed, not coerced.
    model_config = ConfigDict(extra="allow", strict=True)


class _User(_Shape):
    id: str


class _Team(_Shape):
    id: str | None = None


class _Action(_Shape):
    action_id: str


class _View(_Shape):
    id: str = ""
    type: str
    callback_id: str = ""
    private_metadata: str = ""
    state: dict[str, dict[str, Any]] | None = None


class _Interaction(_Shape):
    type: str
    user: _User
    team: _Team | None = None
    view: _View | None = None
    channel: dict[str, Any] | None = None
    container: dict[str, Any] | None = None
    message: dict[str, Any] | None = None


class _BlockActions(_Interaction):
    actions: list[_Action] = Field(min_length=1)


class _ViewSubmission(_Interaction):
    view: _View


class _BlockSuggestion(_Interaction):
    action_id: str
    value: str = ""


class _Shortcut(_Interaction):
    callback_id: str


class _MessageAction(_Shortcut):
    message: dict[str, Any]
    channel: dict[str, Any]


class _Command(_Shape):
    command: str
    team_id: str
    user_id: str
    channel_id: str
    text: str = ""


class _EventCallback(_Shape):
    event: dict[str, Any]


_SHAPES: dict[str, type[_Shape]] = {
    "block_actions": _BlockActions,
    "view_submission": _ViewSubmission,
    "view_closed": _ViewSubmission,
    "block_suggestion": _BlockSuggestion,
    "shortcut": _Shortcut,
    "message_action": _MessageAction,
    "event_callback": _EventCallback,
}


def parse_slack_body(raw: str, content_type: str | None) -> Any:
    """The body as Bolt parses it, except a slash command whose text holds the word "payload".

    Bolt takes any form body containing "payload" for an interaction and, finding no such field,
    reads nothing: `/ticket comment omnidesk:1 the payload arrived damaged` reached no listener.
    """
    parsed = parse_body(raw, content_type)
    if not parsed and "payload" in raw and not raw.startswith("{"):
        form = dict(parse_qsl(raw, keep_blank_values=True))
        if "command" in form and "payload" not in form:
            return form
    return parsed


def shape_problem(body: bytes, content_type: str | None) -> str | None:
    """Why a signed body is not a request of the shape Slack sends (None when it is)."""
    try:
        parsed = parse_slack_body(body.decode("utf-8"), content_type)
    except ValueError:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return "unparsable body"
    if not isinstance(parsed, dict):
        return "body is not an object"
    kind = parsed.get("type")
    shape = (
        _Command if "command" in parsed else _SHAPES.get(kind) if isinstance(kind, str) else None
    )
    if shape is None:
        # Other string types (url_verification, …) are Bolt's to answer or refuse.
        return None if isinstance(kind, str) else "no type"
    try:
        shape.model_validate(parsed)
    except ValidationError as exc:
        where = ".".join(str(part) for part in exc.errors()[0]["loc"])
        return f"malformed {kind or 'command'} ({where})"
    return None


@dataclass(frozen=True)
class Gate:
    """The three checks, with the signing secret and the store's request memory."""

    signing_secret: str
    memory: RequestMemory

    async def check(self, body: bytes, headers: Mapping[str, str], content_type: str) -> Verdict:
        """PASS, or the status to answer with instead of running anything."""
        if problem := signature_problem(self.signing_secret, body, headers):
            return Verdict(401, problem)
        if problem := await replay_problem(self.memory, body, headers):
            return Verdict(200, problem)
        if problem := shape_problem(body, content_type):
            return Verdict(200, problem)
        return PASS
