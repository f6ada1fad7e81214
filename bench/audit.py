"""The audit trail at a year's size: 1,000,000 lines in the embedded store's ``audit.sqlite``.

Append: the rate of the app's own path (one line per change, each committed, through the
``AuditLog`` facet) over a sample, then the rest loaded in batches (``append_many``) so the run
stays short. Query: what `/ticket audit` asks for a person over 7 days (the newest 50, and the
page after them), median of several people. Size: the file (with its indexes) per line.
Goal (issue 14): a person's 7 days under 50 ms on the embedded store.

    .venv/bin/python -m bench.audit [lines]
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import median, percentile
from bot.audit import AuditLine, AuditQuery
from bot.store.embedded_audit import EmbeddedAuditLog

LINES = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
PEOPLE = 300
SAMPLE = 2_000  # single appends timed
BATCH = 10_000
QUERIES = 25
GOAL_MS = 50.0
KINDS = ("status", "comment", "priority", "tags", "create", "claim", "resolve", "delete")
BACKENDS = ("epixel", "omnidesk", "ispcrm", "questionpro")


def _line(rng: random.Random, at: datetime) -> AuditLine:
    kind, backend = rng.choice(KINDS), rng.choice(BACKENDS)
    new = {"comment_length": rng.randint(5, 900)} if kind == "comment" else {"status": "Closed"}
    return AuditLine(
        at=at,
        scope="T0BENCH",
        team_id="T0BENCH",
        user_id=f"U{rng.randrange(PEOPLE):06d}",
        kind=kind,
        origin=rng.choice(("command", "button", "form")),
        outcome="done" if rng.random() < 0.95 else "refused",
        backend=backend,
        refs=(f"{backend}:{rng.randint(1, 200_000)}",),
        new=new,
        # As the app writes a comment's start: sealed (a Fernet token is about this long).
        sealed=("gAAAAA" + "x" * 180) if kind == "comment" else None,
    )


async def main() -> None:
    rng = random.Random(14)
    now = datetime.now(UTC)
    year = timedelta(days=365).total_seconds()
    # Spread over the year retention keeps, oldest first (as appended in real life).
    stamps = sorted(now - timedelta(seconds=rng.random() * year) for _ in range(LINES))
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        audit = EmbeddedAuditLog(Path(tmp))
        started = time.perf_counter()
        for at in stamps[:SAMPLE]:
            await audit.append(_line(rng, at))
        single_rate = SAMPLE / (time.perf_counter() - started)

        started = time.perf_counter()
        for start in range(SAMPLE, LINES, BATCH):
            await audit.append_many(_line(rng, at) for at in stamps[start : start + BATCH])
        batch_rate = (LINES - SAMPLE) / (time.perf_counter() - started)

        week = now - timedelta(days=7)
        firsts, nexts, found = [], [], []
        for person in rng.sample(range(PEOPLE), QUERIES):
            query = AuditQuery(scope="T0BENCH", user_id=f"U{person:06d}", since=week, limit=51)
            started = time.perf_counter()
            lines = await audit.query(query)
            firsts.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            await audit.query(query.page(50))
            nexts.append((time.perf_counter() - started) * 1000)
            found.append(len(lines))
        await audit.aclose()
        size = await asyncio.to_thread(lambda: sum(p.stat().st_size for p in Path(tmp).iterdir()))

    print(f"{LINES:,} audit lines, {PEOPLE} people over 365 days, embedded store (audit.sqlite)")
    print(f"append, one line per change (each committed): {single_rate:,.0f} lines/s")
    print(f"append in batches of {BATCH:,} (copies, this load): {batch_rate:,.0f} lines/s")
    print(
        f"/ticket audit, a person's last 7 days (newest 50 of ~{median(found):.0f}): "
        f"median {median(firsts):.2f} ms, p90 {percentile(firsts, 90):.2f} ms "
        f"(goal < {GOAL_MS:.0f} ms) -> {'OK' if median(firsts) < GOAL_MS else 'MISSED'}"
    )
    print(f"the next page (Older): median {median(nexts):.2f} ms")
    print(f"store size: {size / 1024 / 1024:,.0f} MiB, {size / LINES:,.0f} bytes per line")


if __name__ == "__main__":
    asyncio.run(main())
