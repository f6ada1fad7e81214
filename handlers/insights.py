"""`/ticket insights`: a subscribed channel's detractor figures, with a chart in the thread."""

from __future__ import annotations

from typing import Any

from bot.blocks.help import Usage
from bot.blocks.limits import escape
from bot.errors import UserInputError
from bot.insights import period
from bot.insights_post import post_insights
from bot.subscriptions import Subscription, now
from bot.text import is_number
from handlers.invocation import Invocation, Subcommand

DEFAULT_DAYS, MAX_DAYS = 30, 365
NOT_SUBSCRIBED = (
    "This channel has no detractor subscription, so I have nothing to report on. Subscribe it "
    "with `/ticket subscribe detractors segment:&lt;id&gt;` (alerts as they arrive, and "
    "insights every Monday), then ask again once a few have come in."
)


def parse_insights(args: list[str]) -> dict[str, Any]:
    """``[segment:<id>] [days:<n>]``."""
    found: dict[str, Any] = {"days": DEFAULT_DAYS}
    for word in args:
        key, _, value = word.lower().partition(":")
        if key == "segment" and is_number(value):
            found["segment_id"] = int(value)
        elif key == "days" and value.isdigit() and 1 <= int(value) <= MAX_DAYS:
            found["days"] = int(value)
        else:
            raise UserInputError(
                f"I don't understand `{escape(word)}`. Use `segment:&lt;id&gt;` and "
                f"`days:&lt;1-{MAX_DAYS}&gt;`, e.g. `/ticket insights days:30`."
            )
    return found


def pick(subs: list[Subscription], segment_id: int | None) -> Subscription:
    """The detractor subscription asked for, or a message saying how to ask (a channel's ticket
    feeds have no detractors to count)."""
    subs = [s for s in subs if s.source == "detractors"]
    if not subs:
        raise UserInputError(NOT_SUBSCRIBED)
    if segment_id is not None:
        subs = [s for s in subs if s.segment_id == segment_id]
        if not subs:
            raise UserInputError(
                f"This channel has no subscription for segment {segment_id}; "
                "`/ticket subscriptions` lists them."
            )
    if len(subs) > 1:
        segments = ", ".join(f"`segment:{s.segment_id}`" for s in subs)
        raise UserInputError(f"This channel has several subscriptions: add one of {segments}.")
    return subs[0]


async def _insights(inv: Invocation) -> None:
    wanted = parse_insights(inv.args)
    subs = await inv.services.alerts.for_channel(inv.team_id, inv.body["channel_id"])
    sub = pick(subs, wanted.get("segment_id"))
    await post_insights(
        inv.client,
        inv.services.alerts,
        sub,
        period(now(), wanted["days"]),
        lead=f"<@{inv.user_id}> asked for detractor insights.",
    )


SUBCOMMANDS: dict[str, Subcommand] = {
    "insights": Subcommand(
        Usage(
            "/ticket insights [segment:<id>] [days:30]",
            "Detractor figures for this channel's subscription, with a chart.",
            "/ticket insights days:30",
        ),
        _insights,
    ),
}
