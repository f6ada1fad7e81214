"""Posting a subscription's insights: read the ledger, post the figures, chart in the thread.

The one path both ``/ticket insights`` and the weekly post take.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import as_dicts
from bot.blocks.insights import insights_blocks, insights_text, title
from bot.charts import render_chart
from bot.insights import Insights, Period, figures
from bot.store.interface import AlertStore
from bot.subscriptions import Subscription

CHART_NAME = "detractor-insights.png"


async def gather(alerts: AlertStore, sub: Subscription, span: Period) -> Insights:
    """The figures of ``sub`` over ``span``, against the period before it."""
    current = await alerts.alerts_between(sub.id, span.start, span.end)
    before = span.previous
    previous = await alerts.alerts_between(sub.id, before.start, before.end)
    return figures(current, len(previous), span)


async def post_insights(
    client: AsyncWebClient,
    alerts: AlertStore,
    sub: Subscription,
    span: Period,
    lead: str = "",
    posted: Callable[[], Awaitable[None]] | None = None,
) -> str:
    """Post the insights of ``sub`` in its channel and the chart in that message's thread;
    returns the message's ts. ``lead`` goes before the figures (who asked, or "Weekly");
    ``posted`` runs once Slack accepted the message, before the chart is drawn."""
    ins = await gather(alerts, sub, span)
    text = insights_text(sub, ins)
    message = await client.chat_postMessage(
        channel=sub.channel_id,
        text=f"{lead}\n{text}" if lead else text,
        blocks=as_dicts(insights_blocks(sub, ins, lead)),
        unfurl_links=False,
    )
    ts = message["ts"]
    if posted is not None:
        await posted()
    # matplotlib is CPU-bound for most of a second: off the event loop, so acks go on.
    png = await asyncio.to_thread(render_chart, ins)
    await client.files_upload_v2(
        channel=sub.channel_id,
        thread_ts=ts,
        content=png,
        filename=CHART_NAME,
        title=title(sub, ins),
        alt_txt=f"Chart: {text.splitlines()[0]}"[:1000],
    )
    return ts
