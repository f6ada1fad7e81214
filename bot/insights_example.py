"""The README's example chart, drawn by the real code from a made-up ledger:
``python -m bot.insights_example docs/insights-example.png``."""

from __future__ import annotations

import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.charts import render_chart
from bot.insights import Insights, figures, period
from bot.models import Detractor
from bot.subscriptions import Alert

COMMENTS = (
    "Late delivery, nobody called back",
    "Support never answered my email",
    "late delivery again and the box was damaged",
    "Refund still not processed",
    "app keeps crashing at checkout",
)


def sample(now: datetime, days: int = 30, seed: int = 14) -> Insights:
    """Insights of a reproducible sample ledger: more detractors and slower claims mid-month."""
    rng = random.Random(seed)  # noqa: S311 (sample data, reproducible)
    span = period(now, days, include_today=False)
    alerts = []
    for n in range(days):
        busy = 10 <= n <= 16
        for k in range(rng.randint(3, 9) if busy else rng.randint(0, 4)):
            at = span.start + timedelta(days=n, hours=rng.uniform(7, 19))
            claim = timedelta(hours=rng.uniform(2, 9) if busy else rng.uniform(0.3, 3))
            alerts.append(
                Alert(
                    subscription_id="sample",
                    channel_id="C",
                    detractor=Detractor(
                        ticket_id=n * 100 + k,
                        response_id=n * 100 + k,
                        email="customer@example.com",
                        comment=rng.choice(COMMENTS),
                        created_at=at,
                        timelimit_hours=48,
                    ),
                    claimed_at=at + claim,
                )
            )
    return figures(alerts, 70, span)


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/insights-example.png")
    out.write_bytes(render_chart(sample(datetime(2026, 3, 31, tzinfo=UTC))))
    print(out)
