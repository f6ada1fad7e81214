"""Two-way ticket threads: a reply in the thread of a ticket message becomes a comment on that
ticket, written with the replier's own account; comments others make in the backend appear in
the thread. Nothing here knows a Slack payload; ``handlers/threads.py`` parses and renders.

The entries:

- ``remember_thread``: wherever ticketbot posts a ticket message into a channel (the created
  ticket, an escalated alert, the ticket feeds), so replies under it find their ticket.
- ``reply_route`` then ``comment_from_reply``: the reply listener's two calls.
- ``post_backend_comment``: the watcher's call for a comment it found new on a ticket.
- ``remember_written``: a change-feed listener keeping a fingerprint of every comment written
  through ticketbot, so that ``post_backend_comment`` never echoes one back (no loop).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError

from bot.backends.base import Capability
from bot.backends.forms import file_field
from bot.blocks import as_dicts
from bot.blocks.limits import escape
from bot.blocks.threads import backend_comment_blocks, backend_comment_text
from bot.credentials import account_key
from bot.errors import (
    BackendError,
    NotConnectedError,
    UnsupportedOperationError,
    UserInputError,
)
from bot.keys import label
from bot.models import Comment, TicketRef, Upload
from bot.posting import CHANNEL_GONE
from bot.tickets import Actor, backend_for

if TYPE_CHECKING:
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.backends.base import BaseBackend
    from bot.changes import Change
    from bot.services import Services

log = logging.getLogger(__name__)

# A reply starting with this stays in Slack; in a channel set to slack-only, a reply starting
# with TO_BACKEND is sent. Compared after Slack's escaping is undone (">" arrives as "&gt;").
SLACK_ONLY = "//"
TO_BACKEND = ">>"


@dataclass(frozen=True)
class ThreadSpot:
    """A message in a channel, named as Slack names it: workspace, channel, ``ts``."""

    team_id: str
    channel_id: str
    ts: str


@dataclass(frozen=True)
class Route:
    """Where a reply goes: the ticket, the account it is in ("" when not known), and the
    reply's text without its marker."""

    ref: TicketRef
    text: str
    account: str = ""


@dataclass(frozen=True)
class Outcome:
    """What became of a reply: ``landed`` on the ticket or not; ``note`` (mrkdwn) tells the
    replier why not, or what was left behind (a file); ``connect`` offers a Connect button."""

    ref: TicketRef
    landed: bool
    note: str = ""
    connect: str | None = None


async def remember_thread(
    services: Services,
    team_id: str,
    channel_id: str,
    ts: str,
    ref: str | TicketRef,
    reader: tuple[str, str],
) -> None:
    """Record that the message ``ts`` in ``channel_id`` stands for ticket ``ref``, as read with
    the credentials of ``reader`` (scope, user id), whose account it is in: replies in its
    thread become comments on it, and its backend comments are posted there. Call it for the
    thread's root (a message posted inside a thread records that thread's root)."""
    if services.threads is None or not ts:
        return
    ref = str(ref)
    account = await account_of(services, *reader, ref.partition(":")[0])
    await services.threads.link_thread(ThreadSpot(team_id, channel_id, ts), ref, account or "")


async def account_of(services: Services, scope: str, user_id: str, backend: str) -> str | None:
    """The backend account the person's credentials reach (``account_key``), None without."""
    creds = await services.store.load_credentials(scope, user_id, backend)
    return None if creds is None else account_key(creds)


async def reply_route(services: Services, root: ThreadSpot, text: str) -> Route | None:
    """The ticket a reply under ``root`` goes to, with ``text`` (already plain) stripped of its
    marker; None when the thread is no ticket's or the reply stays in Slack."""
    if services.threads is None:
        return None
    ref = await services.threads.thread_ref(root)
    if ref is None:
        return None
    text = text.strip()
    if text.startswith(SLACK_ONLY):
        return None
    if await services.threads.slack_only(root.team_id, root.channel_id):
        if not text.startswith(TO_BACKEND):
            return None
        text = text.removeprefix(TO_BACKEND).strip()
    account = await services.threads.thread_account(root) or ""
    return Route(TicketRef.parse(ref), text, account)


async def comment_from_reply(
    services: Services, actor: Actor, route: Route, files: list[dict[str, Any]]
) -> Outcome:
    """Write the reply as a comment with ``actor``'s own account (recorded in the change feed),
    forwarding its first file where the backend takes attachments. Refusals come back as an
    Outcome in the backend's words; anything unexpected raises."""
    ref = route.ref
    try:
        backend = await backend_for(
            services.store, services.backends, actor, ref.backend, services.changes
        )
        mine = await account_of(services, actor.scope, actor.user_id, ref.backend)
        if route.account and mine != route.account:
            # The same ticket number in the replier's account is another ticket.
            return Outcome(ref, False, _other_account(ref, route.text))
        if not backend.supports(Capability.COMMENT):
            raise UnsupportedOperationError(_no_comments(ref.backend, backend))
        if not route.text and not files:
            raise UserInputError("The reply is empty, so nothing was sent.")
        upload, note = await _first_file(services, backend, files)
        # A reply that is only a file still needs words: the backends refuse an empty comment.
        await backend.add_comment(ref.id, route.text or "(file attached in Slack)", upload)
    except NotConnectedError as error:
        return Outcome(ref, False, error.user_message(), connect=ref.backend)
    except (UserInputError, BackendError) as error:
        return Outcome(ref, False, error.user_message())
    return Outcome(ref, True, note)


def _other_account(ref: TicketRef, text: str) -> str:
    said = f"\nWhat you wrote: {escape(text)}" if text else ""
    return (
        f"This thread belongs to `{ref}` in another {label(ref.backend)} account than the one "
        f"you are connected to, so your reply was not sent as a comment.{said}"
    )


def _no_comments(key: str, backend: BaseBackend) -> str:
    read_only = not backend.capabilities - {
        Capability.LIST,
        Capability.SEARCH,
        Capability.SHOW,
        Capability.OWN_TICKETS,
    }
    why = "its tickets are read-only here" if read_only else "its API has no comment endpoint"
    return f"{label(key)} cannot take comments from ticketbot: {why}."


async def _first_file(
    services: Services, backend: BaseBackend, files: list[dict[str, Any]]
) -> tuple[Upload | None, str]:
    """The reply's first file as an upload, or None with the reason it is not forwarded."""
    if not files:
        return None, ""
    name = escape(str(files[0].get("name") or "The file"))
    spec = file_field(backend.create_form)
    if not backend.supports(Capability.ATTACH) or spec is None:
        return None, f"{name} was not forwarded: {backend.label} takes no files on comments."
    extra = f"{len(files) - 1} more file(s) not forwarded: one per comment." if files[1:] else ""
    try:
        return await services.files.download(files[0], spec.max_bytes), extra
    except UserInputError as error:
        return None, f"The file was not forwarded: {error.user_message()}"


def fingerprint(text: str) -> str:
    """A comment's key in the thread store, from what the change feed keeps of it (its length
    and first 80 characters): the same for the comment as written and as the backend shows it."""
    return _written_key(len(text), text[:80])


def _written_key(length: int, start: str) -> str:
    # Only a digest is kept: the store never holds the comment itself (people's words).
    return "text:" + hashlib.sha256(f"{length}:{start}".encode()).hexdigest()[:32]


async def remember_written(services: Services, change: Change) -> None:
    """Change-feed listener: note each comment written through ticketbot (done, or sent with
    its answer lost) under its ticket, so ``post_backend_comment`` does not echo it."""
    if change.kind != "comment" or change.outcome == "refused" or services.threads is None:
        return
    length, start = change.new.get("comment_length"), change.new.get("comment_start")
    if not isinstance(length, int) or not isinstance(start, str):
        return
    for ref in change.refs:
        await services.threads.note_comment(ref, _written_key(length, start))


async def post_backend_comment(
    services: Services, client: AsyncWebClient, ref: str, comment: Comment, account: str
) -> int:
    """Post ``comment``, found new on ticket ``ref`` (``backend:id``) in ``account`` by the
    watcher, into every thread of that ticket in that account; returns how many threads it
    went to. A comment ticketbot wrote is
    skipped (no loop), and so is one already posted (the same comment id twice). ``client``
    posts in the workspace the threads belong to."""
    threads = services.threads
    if threads is None or await threads.knows_comment(ref, fingerprint(comment.body)):
        return 0
    if await threads.knows_comment(ref, f"id:{comment.id}"):
        return 0  # posted by a version that kept one mark for all the ticket's threads
    text = backend_comment_text(ref, comment)
    blocks = as_dicts(backend_comment_blocks(ref, comment))
    posted = 0
    for spot in await threads.threads_of(ref, account):
        # Marked before posting, so two callers at once post it once; unmarked if Slack
        # failed, so the next call posts it (a channel that is gone is not tried again). The
        # account is in the mark: ticket 123 of another account is another ticket.
        key = f"id:{account}:{comment.id}|{spot.channel_id}|{spot.ts}"
        if not await threads.note_comment(ref, key):
            continue
        try:
            await client.chat_postMessage(
                channel=spot.channel_id, thread_ts=spot.ts, text=text, blocks=blocks
            )
            posted += 1
        except SlackApiError as error:
            log.info("could not post a %s comment in %s: %s", ref, spot.channel_id, error)
            if error.response.get("error") not in CHANNEL_GONE:
                await threads.forget_comment(ref, key)
    return posted


async def set_channel_default(services: Services, team_id: str, channel_id: str, to: str) -> str:
    """Switch the channel's default for replies in ticket threads; the sentence confirming it."""
    if to not in ("slack-only", "comments"):
        raise UserInputError("Say `/ticket threads slack-only` or `/ticket threads comments`.")
    if services.threads is None:
        raise UserInputError("This store keeps no ticket threads.")
    await services.threads.set_slack_only(team_id, channel_id, to == "slack-only")
    return channel_default_text(to == "slack-only")


def channel_default_text(slack_only: bool) -> str:
    """How replies in this channel's ticket threads are treated, in one line."""
    if slack_only:
        return (
            "Replies in ticket threads here stay in Slack; start one with `>>` to send it to the "
            "ticket as a comment."
        )
    return (
        "Replies in ticket threads here become comments on the ticket; start one with `//` to "
        "keep it in Slack."
    )
