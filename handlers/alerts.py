"""The buttons of detractor alerts in Slack: Claim, Resolve (and its form), Escalate, Open and the
first poll's Show them. Subscribing and unsubscribing are in ``handlers.subscriptions``."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.alert_access import require_actor
from bot.alert_changes import alert_change, change_alert
from bot.alert_links import claim_note
from bot.backends.base import Capability
from bot.backends.questionpro import QuestionProBackend
from bot.blocks import as_dicts
from bot.blocks.alerts import digest_messages, resolve_modal, resolved_line
from bot.blocks.forms import metadata
from bot.blocks.limits import clip
from bot.errors import UserInputError
from bot.ids import Action, Callback
from bot.services import Services
from bot.subscriptions import Alert, now
from bot.tickets import backend_for, require
from handlers.common import actor_of, view_values
from handlers.common import metadata as read_metadata
from handlers.create import open_create
from handlers.errors import guarded

SHOW_EXISTING_MAX = 500


async def alert_of(services: Services, body: dict[str, Any]) -> Alert:
    sub_id, _, ticket = body["actions"][0]["value"].partition(":")
    alert = await services.alerts.alert(sub_id, int(ticket))
    if alert is None:
        raise UserInputError("That alert is no longer known (its subscription was removed).")
    return alert


def _known(alert: Alert | None) -> Alert:
    """The alert an update returned; it can only be gone if its subscription just was."""
    if alert is None:
        raise UserInputError("That alert is no longer known (its subscription was removed).")
    return alert


async def _permitted(
    services: Services, client: AsyncWebClient, alert: Alert, body: dict, verb: str
) -> tuple[str, bool]:
    """The clicker, once the subscription's ``actors:`` group allows them to ``verb``, and
    whether the subscription masks contacts (`pii:masked`)."""
    user = actor_of(body).user_id
    sub = await services.alerts.get(alert.subscription_id)
    await require_actor(services, client, sub, user, verb)
    return user, sub is not None and sub.access.pii_masked


async def claim(ack: AsyncAck, body: dict, client: AsyncWebClient, services: Services) -> None:
    await ack()
    actor = actor_of(body)
    alert = await alert_of(services, body)
    user, _ = await _permitted(services, client, alert, body, "claim")

    def take(fresh: Alert) -> bool:
        if fresh.state == "resolved" or (fresh.claimed_by and fresh.claimed_by != user):
            return False
        fresh.claimed_by, fresh.state, fresh.claimed_at = user, "claimed", now()
        return True

    # Checked and written as one step: of two people clicking at once, one claims it.
    key = (alert.subscription_id, alert.detractor.ticket_id)
    alert = _known(await services.alerts.update_alert(*key, take))
    if alert.state == "resolved" or alert.claimed_by != user:
        who = alert.resolved_by if alert.state == "resolved" else alert.claimed_by
        raise UserInputError(
            f"<@{who}> already {'resolved' if alert.state == 'resolved' else 'claimed'} this one."
        )
    line = f":raising_hand: <@{user}> claimed this. {claim_note(alert)}".rstrip()
    await change_alert(services, client, alert, line)
    await services.changes.publish(alert_change(actor, "claim", alert))


async def resolve(ack: AsyncAck, body: dict, client: AsyncWebClient, services: Services) -> None:
    """Opens a small form for an optional note."""
    await ack()
    alert = await alert_of(services, body)
    _, mask = await _permitted(services, client, alert, body, "resolve")
    await client.views_open(
        trigger_id=body["trigger_id"],
        view=resolve_modal(alert, metadata(alert=body["actions"][0]["value"]), mask),
    )


async def submit_resolve(
    ack: AsyncAck, body: dict, client: AsyncWebClient, services: Services
) -> None:
    await ack()
    sub_id, _, ticket = read_metadata(body["view"])["alert"].partition(":")
    alert = await services.alerts.alert(sub_id, int(ticket))
    if alert is None:
        raise UserInputError("That alert is no longer known.")
    actor = actor_of(body)
    user, _ = await _permitted(services, client, alert, body, "resolve")
    note = (view_values(body["view"]).get("note") or "").strip()

    def settle(fresh: Alert) -> bool:
        fresh.state, fresh.resolved_by, fresh.note = "resolved", user, note or None
        fresh.resolved_at = now()
        return True

    alert = _known(await services.alerts.update_alert(sub_id, int(ticket), settle))
    await change_alert(services, client, alert, resolved_line(user, note))
    # The note is free text about the customer: its length and start (sealed by the trail).
    noted = {"note_length": len(note), "note_start": note[:80]} if note else {}
    await services.changes.publish(alert_change(actor, "resolve", alert, **noted))


async def escalate(ack: AsyncAck, body: dict, client: AsyncWebClient, services: Services) -> None:
    """The create form, prefilled with the detractor, for a backend the clicker connected. The
    form (seen by the clicker alone) has the full contact; the subject never is the bare email,
    and on a `pii:masked` subscription the new ticket is announced in the thread masked."""
    await ack()
    alert = await alert_of(services, body)
    _, mask = await _permitted(services, client, alert, body, "escalate")
    d = alert.detractor
    contact = d.email + (f", {d.phone}" if d.phone else "")
    values = {
        "subject": clip(f"Detractor ({d.rating or '?'}/10): {d.comment or 'no comment'}", 150),
        "body": f"{d.comment}\n\nCustomer: {contact}\nRating: {d.rating or 'none'}\n"
        f"QuestionPro ticket {d.ticket_id}, response {d.response_id}",
    }
    await open_create(
        client,
        services,
        actor_of(body),
        body["trigger_id"],
        None,
        values,
        channel_id=alert.channel_id,
        thread_ts=alert.ts,
        alert=body["actions"][0]["value"],
        masked=mask,
    )


async def show_existing(
    ack: AsyncAck, body: dict, client: AsyncWebClient, services: Services
) -> None:
    """The first poll's "Show them": the newest existing detractors in the summary's thread.

    Fetched with the clicker's own QuestionPro account, never the subscriber's: anyone in the
    channel can click, and the subscriber's key must not read on their behalf.
    """
    await ack()
    sub = await services.alerts.get(body["actions"][0]["value"])
    if sub is None:
        raise UserInputError("That subscription was removed.")
    clicker = actor_of(body)
    backend = await backend_for(services.store, services.backends, clicker, "questionpro")
    require(backend, Capability.DETRACTORS, "detractor alerts")
    assert isinstance(backend, QuestionProBackend)
    shown, total = [], 0
    async for detractor in backend.iter_detractors(segment_id=sub.segment_id, status=sub.status):
        total += 1
        if len(shown) < SHOW_EXISTING_MAX:
            shown.append(detractor)
        else:
            break
    thread = (body.get("container") or {}).get("message_ts") or body["message"]["ts"]
    for blocks in digest_messages(shown, sub.access.pii_masked):
        await client.chat_postMessage(
            channel=sub.channel_id, thread_ts=thread, text="Detractors", blocks=as_dicts(blocks)
        )
    if total > len(shown):
        await client.chat_postMessage(
            channel=sub.channel_id,
            thread_ts=thread,
            text=f"The newest {len(shown)} are shown; see QuestionPro for the rest.",
        )


async def open_link(ack: AsyncAck) -> None:
    """A link button still sends a click; it only needs acknowledging."""
    await ack()


def register(app: AsyncApp) -> None:
    """Wire the alert buttons and the resolve form onto ``app``."""
    app.action(Action.ALERT_CLAIM)(guarded(claim))
    app.action(Action.ALERT_RESOLVE)(guarded(resolve))
    app.action(Action.ALERT_ESCALATE)(guarded(escalate))
    app.action(Action.ALERT_OPEN)(guarded(open_link))
    app.action(Action.ALERTS_SHOW_EXISTING)(guarded(show_existing))
    app.view(Callback.RESOLVE)(guarded(submit_resolve))
