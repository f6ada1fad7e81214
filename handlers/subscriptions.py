"""Channel subscriptions in Slack (detractors and ticket feeds): `/ticket subscribe`,
`/ticket subscriptions`, `/ticket unsubscribe` and the list's Unsubscribe button."""

from __future__ import annotations

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

from bot.backends.base import BaseBackend, Capability
from bot.blocks import as_dicts
from bot.blocks.health import subscription_state
from bot.blocks.help import Usage
from bot.blocks.limits import clip, escape
from bot.changes import Change
from bot.errors import NotConnectedError, UserInputError
from bot.ids import Action
from bot.posting import CHANNEL_GONE
from bot.services import Services
from bot.slack_names import resolve_names
from bot.subscription_admin import described, may_remove, remove_subscription
from bot.subscription_rules import SubscribeRequest, parse_subscribe
from bot.subscriptions import Subscription
from bot.tickets import backend_for, require
from handlers.common import actor_of
from handlers.errors import guarded
from handlers.invocation import Invocation, Subcommand


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
    await services.changes.publish(Change(inv.actor, "subscribe", sub.backend, new=described(sub)))


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
    await may_remove(inv.client, sub, inv.user_id)
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


def register(app: AsyncApp) -> None:
    """Wire the subscription list's Unsubscribe button onto ``app``."""
    app.action(Action.UNSUBSCRIBE)(guarded(unsubscribe_button))
