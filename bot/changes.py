"""Every change ticketbot makes, told to whoever needs to know: one feed, many listeners.

A person's backend client comes from ``bot.tickets.backend_for`` wrapped in ``RecordedBackend``,
so each changing call (create, comment, status, priority, tags, delete, and Omnidesk's rename,
unlink, batch, solve-unfinished) is published as a ``Change`` once its outcome is known: done,
refused (with the backend's words) or unknown (sent, answer lost). Listeners (the audit trail,
the ticket watcher that must not tell people of their own changes) subscribe to
``services.changes``; handlers publish the changes that are not backend calls (connect,
subscribe, claim…) the same way. Where a click or command came from is a context variable set
by ``handlers.errors.guarded`` for the listener's whole run, so no call site passes it along.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from bot.errors import BackendError, BackendUnavailable

if TYPE_CHECKING:
    from bot.backends.base import BaseBackend
    from bot.tickets import Actor

log = logging.getLogger(__name__)

Origin = Literal["command", "button", "form", "shortcut", "event", "poller", "cli"]
Outcome = Literal["done", "refused", "unknown"]

# Where the current request came from; "poller" outside any Slack request.
current_origin: contextvars.ContextVar[Origin] = contextvars.ContextVar(
    "ticketbot_origin", default="poller"
)

_ORIGIN_OF_PAYLOAD: dict[str, Origin] = {
    "block_actions": "button",
    "view_submission": "form",
    "view_closed": "form",
    "message_action": "shortcut",
    "shortcut": "shortcut",
    "event_callback": "event",
    "block_suggestion": "form",
}


def origin_of(body: dict[str, Any]) -> Origin:
    """Where a Slack request came from: a slash command has no ``type``, the rest say theirs."""
    if "command" in body and "type" not in body:
        return "command"
    return _ORIGIN_OF_PAYLOAD.get(str(body.get("type")), "event")


@dataclass(frozen=True)
class Change:
    """One change made through ticketbot. ``refs`` are ``backend:id`` strings (empty for a
    change that concerns no ticket, as connect); ``old``/``new`` hold what is known of the
    values before and after; ``detail`` is the backend's words on a refusal."""

    actor: Actor
    kind: str
    backend: str | None = None
    refs: tuple[str, ...] = ()
    new: dict[str, Any] = field(default_factory=dict)
    old: dict[str, Any] = field(default_factory=dict)
    outcome: Outcome = "done"
    detail: str = ""
    origin: Origin = field(default_factory=current_origin.get)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


Listener = Callable[[Change], Awaitable[None]]


class ChangeFeed:
    """Fan-out of changes to listeners. A failing listener is logged and never fails the change
    it hears about: the change was already made on the backend."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` for every change published from now on."""
        self._listeners.append(listener)

    async def publish(self, change: Change) -> None:
        """Tell every listener, in the order they subscribed."""
        for listener in self._listeners:
            try:
                await listener(change)
            except Exception:
                log.exception("a change listener failed on a %s change", change.kind)


def outcome_of(error: BaseException) -> tuple[Outcome, str]:
    """A failed change's outcome: unknown when it was sent and its answer lost, else refused."""
    if isinstance(error, BackendUnavailable) and error.maybe_done:
        return "unknown", error.message
    if isinstance(error, BackendError):
        return "refused", error.message
    return "unknown", type(error).__name__


class RecordedBackend:
    """A person's backend client whose changing calls are published to the feed.

    Reads pass straight through (``__getattr__``); ``inner`` is the client itself, for code that
    needs its concrete type (QuestionPro's detractor and import calls)."""

    def __init__(self, inner: BaseBackend, actor: Actor, feed: ChangeFeed) -> None:
        self.inner = inner
        self._actor = actor
        self._feed = feed

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def _recorded(
        self,
        kind: str,
        ids: Sequence[str],
        new: dict[str, Any],
        call: Awaitable[Any],
    ) -> Any:
        key = self.inner.key
        try:
            result = await call
        except Exception as error:
            outcome, detail = outcome_of(error)
            refs = tuple(f"{key}:{i}" for i in ids)
            await self._publish(kind, refs, new, outcome, detail)
            raise
        await self._publish_result(kind, ids, new, result)
        return result

    async def _publish_result(
        self, kind: str, ids: Sequence[str], new: dict[str, Any], result: Any
    ) -> None:
        key = self.inner.key
        failed = getattr(result, "failed", None)
        if isinstance(failed, dict) and failed:
            # A bulk call: one change per outcome, the refused ones with the backend's words.
            done = [i for i in ids if i not in failed]
            if done:
                await self._publish(kind, tuple(f"{key}:{i}" for i in done), new, "done", "")
            for ticket_id, words in failed.items():
                await self._publish(kind, (f"{key}:{ticket_id}",), new, "refused", str(words))
            return
        await self._publish(kind, tuple(f"{key}:{i}" for i in ids), new, "done", "")

    async def _publish(
        self, kind: str, refs: tuple[str, ...], new: dict[str, Any], outcome: Outcome, detail: str
    ) -> None:
        await self._feed.publish(
            Change(
                actor=self._actor,
                kind=kind,
                backend=self.inner.key,
                refs=refs,
                new=new,
                outcome=outcome,
                detail=detail,
            )
        )

    async def create_ticket(self, new: Any) -> Any:
        key = self.inner.key
        try:
            ticket = await self.inner.create_ticket(new)
        except Exception as error:
            outcome, detail = outcome_of(error)
            await self._publish("create", (), _created(new), outcome, detail)
            raise
        await self._publish("create", (f"{key}:{ticket.ref.id}",), _created(new), "done", "")
        return ticket

    async def add_comment(self, ticket_id: str, text: str, attachment: Any = None) -> None:
        new = {"comment_length": len(text), "comment_start": text[:80]}
        if attachment is not None:
            new["attachment"] = getattr(attachment, "filename", "file")
        await self._recorded(
            "comment", [ticket_id], new, self.inner.add_comment(ticket_id, text, attachment)
        )

    async def set_status(self, ticket_ids: Sequence[str], status: Any) -> Any:
        new = {"status": status.label}
        return await self._recorded(
            "status", ticket_ids, new, self.inner.set_status(ticket_ids, status)
        )

    async def set_priority(self, ticket_ids: Sequence[str], priority: Any) -> Any:
        new = {"priority": priority.label}
        return await self._recorded(
            "priority", ticket_ids, new, self.inner.set_priority(ticket_ids, priority)
        )

    async def set_tags(self, ticket_id: str, names: Sequence[str]) -> Any:
        new = {"tags": list(names)}
        return await self._recorded("tags", [ticket_id], new, self.inner.set_tags(ticket_id, names))

    async def delete_tickets(self, ticket_ids: Sequence[str]) -> Any:
        return await self._recorded("delete", ticket_ids, {}, self.inner.delete_tickets(ticket_ids))

    async def update_ticket(self, ticket_id: str, **fields: Any) -> Any:
        kind = "rename" if set(fields) == {"title"} else "update"
        new = {k: v for k, v in fields.items() if v is not None}
        return await self._recorded(
            kind, [ticket_id], new, self.inner.update_ticket(ticket_id, **fields)
        )

    async def unlink_customer(self, ticket_id: str) -> None:
        await self._recorded("unlink", [ticket_id], {}, self.inner.unlink_customer(ticket_id))

    async def batch(self, ticket_ids: Sequence[str], actions: Sequence[tuple[str, str]]) -> Any:
        new = dict(actions)
        return await self._recorded("batch", ticket_ids, new, self.inner.batch(ticket_ids, actions))

    async def solve_unfinished(self) -> Any:
        return await self._recorded("solve-unfinished", [], {}, self.inner.solve_unfinished())


def _created(new: Any) -> dict[str, Any]:
    """What a create set: the subject (its first 80 characters) and the description's length,
    never the description itself (it is the customer's words)."""
    return {"title": new.subject[:80], "body_length": len(new.body)}
