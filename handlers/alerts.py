"""Channel subscriptions in Slack (detractors and ticket feeds): subscribe, list and remove; Claim,
Escalate, Resolve on detractor alerts."""

from __future__ import annotations

import contextlib
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import (
    Block,
    ButtonElement,
    MarkdownTextObject,
    SectionBlock,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.alert_access import require_actor
from bot.alert_changes import alert_change, change_alert
from bot.alert_links import claim_note
from bot.backends.base import BaseBackend, Capability
from bot.backends.questionpro import QuestionProBackend
from bot.blocks import as_dicts
from bot.blocks.alerts import digest_messages, resolve_modal, resolved_line
from bot.blocks.forms import metadata
from bot.blocks.health import subscription_state
from bot.blocks.help import Usage
from bot.blocks.limits import clip, escape
from bot.changes import Change
from bot.errors import NotConnectedError, UserInputError
from bot.ids import Action, Callback
from bot.posting import CHANNEL_GONE
from bot.services import Services
from bot.slack_names import resolve_names
from bot.subscription_rules import SubscribeRequest, parse_subscribe
from bot.subscriptions import Alert, Subscription, now
from bot.tickets import Actor, backend_for, require
from handlers.common import actor_of, view_values
from handlers.common import metadata as read_metadata
from handlers.create import open_create
from handlers.errors import guarded
from handlers.invocation import Invocation, Subcommand

SHOW_EXISTING_MAX = 500


def parse_subscription(args: list[str]) -> SubscribeRequest:
    """What a `/ticket subscribe <source> …` asks for (``bot.subscription_rules``)."""
    return parse_subscribe(args)


async def _subscribe(inv: Invocation) -> None:
    request = parse_subscription(inv.args)
    services, channel = inv.services, inv.body["channel_id"]
    existing = await services.alerts.for_channel(inv.team_id, channel)
    if await _only_weekly(inv, request, existing):
        return
    sub = Subscription(
        team_id=inv.team_id,
        channel_id=channel,
        subscriber=inv.user_id,
        scope=inv.actor.scope,
        source=request.source,
        **request.fields,
    )
    stamp = await services.store.credentials_stamp(inv.actor.scope, inv.user_id, sub.backend)
    if stamp is None:
        raise NotConnectedError(sub.backend)
    backend = await backend_for(services.store, services.backends, inv.actor, sub.backend)
    _check_feed(backend, sub)
    sub.credentials_stamp = stamp
    if any(s.same_feed(sub) for s in existing):
        raise UserInputError(
            "This channel already gets exactly those alerts: see `/ticket subscriptions`. "
            "Change a filter to add a second one."
        )
    await resolve_names(inv.client, sub)
    await _announce_escalation(inv.client, sub)
    try:
        await inv.client.chat_postMessage(
            channel=channel,
            text=f"<@{inv.user_id}> subscribed this channel to {sub.feed_name} "
            f"({escape(sub.describe())}), fetched with their {sub.vendor} account.",
        )
    except SlackApiError as exc:
        if exc.response.get("error") in CHANNEL_GONE:
            raise UserInputError(_cannot_post_hint(inv.body)) from None
        raise
    await services.alerts.save(sub)
    await services.changes.publish(Change(inv.actor, "subscribe", sub.backend, new=_described(sub)))


def _described(sub: Subscription) -> dict[str, Any]:
    """What an audit line says of a subscription: where, and what it fetches."""
    return {"channel": sub.channel_id, "subscription": sub.describe()}


async def _only_weekly(
    inv: Invocation, request: SubscribeRequest, existing: list[Subscription]
) -> bool:
    """``weekly:on|off`` (with at most the segment) on a detractor subscription the channel
    already has changes only that; True when it did."""
    fields = request.fields
    if request.source != "detractors" or "weekly" not in fields:
        return False
    if not set(fields) <= {"weekly", "segment_id"}:
        return False
    same = [
        s for s in existing if s.source == "detractors" and s.segment_id == fields.get("segment_id")
    ]
    if not same:
        return False
    await _set_weekly(inv, same[0], fields["weekly"])
    return True


async def _set_weekly(inv: Invocation, sub: Subscription, weekly: bool) -> None:
    """``weekly:on|off`` on a subscription the channel already has: only that changes, by whoever
    may remove it."""
    await _may_remove(inv.client, sub, inv.user_id)
    sub.weekly = weekly
    await inv.services.alerts.save(sub)
    await inv.say(
        f"Weekly insights are {'on' if weekly else 'off'} for this subscription "
        f"({escape(sub.describe())})."
    )


async def _announce_escalation(client: AsyncWebClient, sub: Subscription) -> None:
    """Tell the escalation channel what will arrive there, which also proves the bot may post
    there; a clear refusal (and nothing saved) when it may not."""
    target = sub.policy.escalate_to
    if target is None or target.id is None:
        return
    try:
        await client.chat_postMessage(
            channel=target.id,
            text=f"{sub.feed_name[:1].upper()}{sub.feed_name[1:]} from <#{sub.channel_id}> still "
            "unclaimed after "
            f"{(sub.policy.escalate_seconds or 0) // 60} min will be copied here.",
        )
    except SlackApiError as exc:
        if exc.response.get("error") in CHANNEL_GONE:
            raise UserInputError(
                f"I can't post in {target.mention('channel')} (Slack says "
                f"`{exc.response.get('error')}`). Invite me there with `/invite @ticketbot` (or "
                "pick a channel that is not archived), then subscribe again."
            ) from None
        raise


def _check_feed(backend: BaseBackend, sub: Subscription) -> None:
    """What the subscriber's backend must offer for ``sub``; filter values it does not know are
    refused with the valid ones, before anything is saved."""
    if sub.source == "detractors":
        require(backend, Capability.DETRACTORS, "detractor alerts")
        return
    require(backend, Capability.LIST, "listing tickets")
    for status in sub.filters.statuses:
        backend.resolve_status(status)
    for priority in sub.filters.priorities:
        backend.resolve_priority(priority)
    if sub.filters.tag is not None and not backend.supports(Capability.TAG):
        raise UserInputError(f"{backend.label} tickets carry no tags here: drop `tag:`.")


def _cannot_post_hint(body: dict[str, Any]) -> str:
    # Nobody can invite an app into a direct message between people, so the usual hint would
    # send them in circles there.
    if body.get("channel_name") == "directmessage" or body["channel_id"].startswith("D"):
        return (
            "Alerts are posted in a channel, and I can't post in this direct message. Run "
            "`/ticket subscribe detractors …` in the channel that should receive them."
        )
    return (
        "I can't post in this channel. If it is private, invite me with "
        "`/invite @ticketbot`, then subscribe again."
    )


def subscriptions_blocks(subs: list[Subscription]) -> list[Block]:
    """The channel's subscriptions with their source, filters and state, each with an
    Unsubscribe button."""
    if not subs:
        return [
            SectionBlock(
                text=MarkdownTextObject(
                    text="This channel has no subscriptions. `/ticket subscribe detractors` or "
                    "`/ticket subscribe omnidesk|epixel|ispcrm` adds one."
                )
            )
        ]
    blocks: list[Block] = []
    for sub in subs[:49]:
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=clip(
                        f"*{escape(sub.title)}* · {escape(sub.describe())} · by "
                        f"<@{sub.subscriber}>\n{subscription_state(sub, mine=False)}",
                        2900,
                    )
                ),
                accessory=ButtonElement(
                    text="Unsubscribe", action_id=Action.UNSUBSCRIBE, value=sub.id, style="danger"
                ),
            )
        )
    return blocks


async def _subscriptions(inv: Invocation) -> None:
    subs = await inv.services.alerts.for_channel(inv.team_id, inv.body["channel_id"])
    await inv.say(f"{len(subs)} subscription(s)", as_dicts(subscriptions_blocks(subs)))


async def _may_remove(client: AsyncWebClient, sub: Subscription, user_id: str) -> None:
    if user_id == sub.subscriber:
        return
    info = await client.users_info(user=user_id)
    user = info.get("user") or {}
    if not (user.get("is_admin") or user.get("is_owner")):
        raise UserInputError(
            f"Only <@{sub.subscriber}> (who subscribed) or a workspace admin can "
            "remove this subscription."
        )


async def remove_subscription(
    client: AsyncWebClient, services: Services, sub: Subscription, actor: Actor
) -> None:
    user_id = actor.user_id
    await _may_remove(client, sub, user_id)
    await services.alerts.delete(sub)
    await services.changes.publish(Change(actor, "unsubscribe", sub.backend, new=_described(sub)))
    # The channel may be gone; the subscription is removed either way.
    with contextlib.suppress(SlackApiError):
        await client.chat_postMessage(
            channel=sub.channel_id,
            text=f"<@{user_id}> unsubscribed this channel from {sub.feed_name} "
            f"({escape(sub.describe())}).",
        )


async def _unsubscribe(inv: Invocation) -> None:
    subs = await inv.services.alerts.for_channel(inv.team_id, inv.body["channel_id"])
    if inv.args:
        request = parse_subscription(inv.args)
        subs = [s for s in subs if s.source == request.source]
        subs = [s for s in subs if all(getattr(s, k) == v for k, v in request.fields.items())]
    if not subs:
        raise UserInputError(
            "This channel has no such subscription; `/ticket subscriptions` lists them."
        )
    if len(subs) > 1:
        raise UserInputError(
            "This channel has several: say which, e.g. "
            f"`/ticket unsubscribe {subs[0].source} {_typed(subs[0])}`, or use "
            "the buttons of `/ticket subscriptions`."
        )
    await remove_subscription(inv.client, inv.services, subs[0], inv.actor)
    await inv.say(f"Unsubscribed: no more {subs[0].feed_name} for that subscription here.")


def _typed(sub: Subscription) -> str:
    """How the subscription's distinguishing options are typed (for the "say which" hint)."""
    if sub.segment_id is not None:
        return f"segment:{sub.segment_id}"
    return escape(" ".join(sub.filters.describe())) or "…"


SUBCOMMANDS: dict[str, Subcommand] = {
    "subscribe": Subcommand(
        Usage(
            "/ticket subscribe detractors|omnidesk|epixel|ispcrm [filters] [changes:on] "
            "[every:<5m>] [mode:each|digest] [weekly:on|off]",
            "Post QuestionPro detractors or a backend's new tickets in this channel as they "
            "arrive; filters: status: priority: group: tag: text:, rating:0-3 words: "
            "for detractors; detractor insights each Monday (`weekly:off` stops them).",
            "/ticket subscribe omnidesk priority:urgent changes:on",
        ),
        _subscribe,
    ),
    "subscriptions": Subcommand(
        Usage("/ticket subscriptions", "This channel's subscriptions.", "/ticket subscriptions"),
        _subscriptions,
    ),
    "unsubscribe": Subcommand(
        Usage(
            "/ticket unsubscribe <source> [segment:<id>] [filters]",
            "Stop a subscription (its subscriber or an admin).",
            "/ticket unsubscribe omnidesk priority:urgent",
        ),
        _unsubscribe,
    ),
}


# Buttons ---------------------------------------------------------------------------------------


async def alert_of(services: Services, body: dict[str, Any]) -> Alert:
    sub_id, _, ticket = body["actions"][0]["value"].partition(":")
    alert = await services.alerts.alert(sub_id, int(ticket))
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
    if alert.state == "resolved" or (alert.claimed_by and alert.claimed_by != user):
        who = alert.resolved_by if alert.state == "resolved" else alert.claimed_by
        raise UserInputError(
            f"<@{who}> already {'resolved' if alert.state == 'resolved' else 'claimed'} this one."
        )
    alert.claimed_by, alert.state, alert.claimed_at = user, "claimed", now()
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
    alert.state, alert.resolved_by, alert.note = "resolved", user, note or None
    alert.resolved_at = now()
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


async def unsubscribe_button(
    ack: AsyncAck, body: dict, respond: AsyncRespond, client: AsyncWebClient, services: Services
) -> None:
    await ack()
    sub = await services.alerts.get(body["actions"][0]["value"])
    if sub is None:
        raise UserInputError("That subscription was already removed.")
    await remove_subscription(client, services, sub, actor_of(body))
    remaining = await services.alerts.for_channel(sub.team_id, sub.channel_id)
    await respond(
        replace_original=True,
        text="Unsubscribed.",
        blocks=as_dicts(subscriptions_blocks(remaining)),
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
    app.action(Action.UNSUBSCRIBE)(guarded(unsubscribe_button))
    app.view(Callback.RESOLVE)(guarded(submit_resolve))
