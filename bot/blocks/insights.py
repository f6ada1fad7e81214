"""Detractor insights as a message: every figure in text (the chart in the thread repeats them as
a picture, for those who can see it)."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.blocks.limits import SECTION_TEXT, clip, escape
from bot.insights import Insights, Timing
from bot.subscriptions import Subscription


def hours_text(hours: float) -> str:
    """``0.75`` -> "45 min", ``3.5`` -> "3.5 h", ``60`` -> "2.5 days"."""
    if hours < 1:
        return f"{round(hours * 60)} min"
    if hours < 48:
        return f"{hours:.1f} h"
    return f"{hours / 24:.1f} days"


def timing_text(name: str, t: Timing) -> str:
    """ "Time to claim: median 3.0 h, 90th percentile 5.0 h (40 alerts)"."""
    if t.median is None or t.p90 is None:
        return f"{name}: none in this period"
    return (
        f"{name}: median {hours_text(t.median)}, 90th percentile {hours_text(t.p90)} "
        f"({t.count} alert{'s' if t.count != 1 else ''})"
    )


def trend_text(ins: Insights) -> str:
    """ "up 33% on the previous 30 days (30)" and the like."""
    previous = f"the previous {ins.period.days} days ({ins.previous_total})"
    if ins.trend is None:
        return f"none in {previous}" if ins.total == 0 else f"up from none in {previous}"
    if ins.trend == 0:
        return f"the same as {previous}"
    return f"{'up' if ins.trend > 0 else 'down'} {abs(ins.trend):.0%} on {previous}"


def escalated_text(ins: Insights) -> str:
    """ "Escalated into tickets: 5 of 40 (12%), 2 of them closed"."""
    if ins.total == 0:
        return "Escalated into tickets: none"
    return (
        f"Escalated into tickets: {ins.escalated} of {ins.total} "
        f"({ins.escalated / ins.total:.0%}), {ins.escalated_closed} of them closed"
    )


def terms_text(ins: Insights) -> str:
    """The most common words and phrases, escaped (they come from customers)."""
    if not ins.top_terms:
        return "Most common in comments: no comments in this period"
    listed = ", ".join(f"“{escape(term)}” ({count})" for term, count in ins.top_terms)
    return f"Most common in comments: {listed}"


def title(sub: Subscription, ins: Insights) -> str:
    """ "Detractor insights, segment 999, last 30 days"."""
    where = f"segment {sub.segment_id}" if sub.segment_id is not None else "all segments"
    return f"Detractor insights, {where}, last {ins.period.days} days"


def insights_text(sub: Subscription, ins: Insights) -> str:
    """The whole message as plain text: the notification, and what screen readers read."""
    per_day = ins.total / ins.period.days
    return "\n".join(
        [
            f"{title(sub, ins)}: {ins.total} detractor{'' if ins.total == 1 else 's'} "
            f"({per_day:.1f} a day), {trend_text(ins)}.",
            timing_text("Time to claim", ins.to_claim),
            timing_text("Time to resolve", ins.to_resolve),
            escalated_text(ins),
            terms_text(ins),
        ]
    )


def per_day_text(ins: Insights) -> str:
    """The chart's bars as text: "Per day (UTC): 25 Feb 3 · 26 Feb 4 · …"."""
    days = " · ".join(f"{day:%d %b} {count}" for day, count in ins.per_day)
    return clip(f"Per day (UTC): {days}", SECTION_TEXT)


def insights_blocks(sub: Subscription, ins: Insights, lead: str = "") -> list[Block]:
    """The insights message (``lead``: who asked, or that it is the weekly one); the chart
    follows in its thread."""
    lines = insights_text(sub, ins).split("\n")
    blocks: list[Block] = [HeaderBlock(text=clip(title(sub, ins), 150))]
    if lead:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=clip(lead, SECTION_TEXT))]))
    return [
        *blocks,
        SectionBlock(text=MarkdownTextObject(text=clip(lines[0].split(": ", 1)[1], SECTION_TEXT))),
        SectionBlock(text=MarkdownTextObject(text=clip("\n".join(lines[1:]), SECTION_TEXT))),
        ContextBlock(
            elements=[
                MarkdownTextObject(text=per_day_text(ins)),
                MarkdownTextObject(
                    text="Times are from the detractor's arrival in QuestionPro. "
                    "The chart is in the thread."
                ),
            ]
        ),
    ]
