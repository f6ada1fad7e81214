"""Detractor insights: pure figures from one subscription's alert ledger (no I/O).

A period is whole UTC days. Each alert counts on the day its detractor arrived (QuestionPro's
``created_at``). Time to claim is ``claimed_at`` minus that arrival, time to resolve is
``resolved_at`` minus it: what the customer waited, including the poll interval before the alert
was posted. Medians are exact (the mean of the two middle values for an even count); the 90th
percentile is the nearest-rank one (the smallest value with at least 90% of values at or below
it), so it is always a time that really happened. Alerts written before the ledger kept click
times have none and are left out of the timings, not counted as zero.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from bot.models import NeutralStatus
from bot.subscriptions import Alert

TOP_TERMS = 5

# English only, and deliberately short: the words that would otherwise top every list.
_STOP = """
    a about above after again against all also am an and any are aren't as at be because been
    before being below between both but by can can't cannot could couldn't did didn't do does
    doesn't doing don't down during each even ever every few for from further get got had hadn't
    has hasn't have haven't having he her here hers herself him himself his how i i'm i've if in
    into is isn't it it's its itself just let's like me more most much my myself need no nor not
    now of off on once one only or other our ours ourselves out over own really same she should
    shouldn't so some still such than that that's the their theirs them themselves then there
    there's these they they're this those through to too under until up us very was wasn't we
    we're were weren't what when where which while who whom why will with won't would wouldn't
    yet you you're your yours yourself yourselves
"""
STOP_WORDS = frozenset(_STOP.split())
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_CLAUSE = re.compile(r"[.,;:!?()\[\]\"/\n]+")  # a phrase never spans these


@dataclass(frozen=True)
class Period:
    """[start, end): ``days`` whole UTC days."""

    start: datetime
    end: datetime

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def previous(self) -> Period:
        """The period of the same length just before this one."""
        return Period(self.start - (self.end - self.start), self.start)

    def dates(self) -> list[date]:
        """Each UTC day of the period, oldest first."""
        return [self.start.date() + timedelta(days=n) for n in range(self.days)]


def period(now: datetime, days: int, *, include_today: bool = True) -> Period:
    """The ``days`` UTC days ending with today (so far) or, without it, with yesterday."""
    today = datetime.combine(now.astimezone(UTC).date(), time(), UTC)
    end = today + timedelta(days=1) if include_today else today
    return Period(end - timedelta(days=days), end)


def escalation_closed(alert: Alert) -> bool:
    """Whether a ticket the alert was escalated into is closed, by the linked ticket's last
    status (bot.alert_links); for links never checked (written before links were kept), a
    resolved alert counts as closed."""
    statuses = [link.status for link in alert.escalated if link.status is not None]
    if statuses:
        return any(status == NeutralStatus.CLOSED for status in statuses)
    return alert.state == "resolved"


def median(values: Sequence[float]) -> float | None:
    """The exact median, or None for no values."""
    return statistics.median(values) if values else None


def percentile(values: Sequence[float], pct: float) -> float | None:
    """The nearest-rank percentile: the smallest value with ``pct``% of values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(pct / 100 * len(ordered)), 1) - 1]


def _hours(alerts: Iterable[Alert], field: str) -> list[float]:
    found = []
    for alert in alerts:
        at = getattr(alert, field)
        if at is not None:
            found.append((at - alert.detractor.created_at).total_seconds() / 3600)
    return found


@dataclass(frozen=True)
class Timing:
    """Median and 90th percentile in hours, over ``count`` alerts that have the time."""

    median: float | None
    p90: float | None
    count: int


def timing(hours: Sequence[float]) -> Timing:
    """The median and 90th percentile of ``hours``."""
    return Timing(median(hours), percentile(hours, 90), len(hours))


@dataclass(frozen=True)
class Insights:
    """What ``/ticket insights`` and the weekly post show for one subscription and period."""

    period: Period
    per_day: list[tuple[date, int]]
    claim_per_day: list[float | None]  # each day's median hours to claim, for the chart's line
    previous_total: int
    to_claim: Timing
    to_resolve: Timing
    escalated: int
    escalated_closed: int
    top_terms: list[tuple[str, int]]

    @property
    def total(self) -> int:
        return sum(count for _, count in self.per_day)

    @property
    def trend(self) -> float | None:
        """The change against the previous period as a fraction; None when that had none."""
        if not self.previous_total:
            return None
        return (self.total - self.previous_total) / self.previous_total


def figures(alerts: Sequence[Alert], previous_total: int, span: Period) -> Insights:
    """The insights of ``alerts`` (those of ``span``) against the previous period's count."""
    by_day: dict[date, list[Alert]] = {day: [] for day in span.dates()}
    for alert in alerts:
        day = alert.detractor.created_at.astimezone(UTC).date()
        if day in by_day:
            by_day[day].append(alert)
    escalated = [a for a in alerts if a.escalated]
    return Insights(
        period=span,
        per_day=[(day, len(found)) for day, found in by_day.items()],
        claim_per_day=[median(_hours(found, "claimed_at")) for found in by_day.values()],
        previous_total=previous_total,
        to_claim=timing(_hours(alerts, "claimed_at")),
        to_resolve=timing(_hours(alerts, "resolved_at")),
        escalated=len(escalated),
        escalated_closed=sum(1 for a in escalated if escalation_closed(a)),
        top_terms=top_terms(a.detractor.comment for a in alerts),
    )


def words(comment: str) -> list[str]:
    """The comment's words, lower-cased (letters and inner apostrophes, any alphabet)."""
    return _WORD.findall(comment.lower().replace("\u2019", "'"))


def _terms(comment: str) -> set[str]:
    # A word or a two-word phrase, each counted once per comment: one angry essay repeating
    # a word must not outweigh ten customers saying it once.
    found: set[str] = set()
    for clause in _CLAUSE.split(comment):
        previous: str | None = None
        for word in words(clause):
            if word in STOP_WORDS or len(word) < 2:
                previous = None
                continue
            found.add(word)
            if previous is not None:
                found.add(f"{previous} {word}")
            previous = word
    return found


def top_terms(comments: Iterable[str], limit: int = TOP_TERMS) -> list[tuple[str, int]]:
    """The ``limit`` most common words or two-word phrases, by how many comments use them.

    A phrase needs two comments to count; at the same count a phrase comes before its words,
    and a word is dropped when a chosen phrase holding it has the same count (it says no more).
    """
    counts: Counter[str] = Counter()
    for comment in comments:
        counts.update(_terms(comment))
    ranked = sorted(counts.items(), key=lambda tc: (-tc[1], -tc[0].count(" "), tc[0]))
    chosen: list[tuple[str, int]] = []
    for term, count in ranked:
        if " " in term and count < 2:
            continue
        if any(c == count and term in p.split(" ") for p, c in chosen):
            continue
        chosen.append((term, count))
        if len(chosen) == limit:
            break
    return chosen
