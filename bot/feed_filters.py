"""Whether one item passes a subscription's filters (``bot.subscription_rules.Filters``).

Applied by the pollers to each new item, after it is fetched: the vendors' list endpoints take
at most one status and no priority, tag or group, so one client-side rule serves every backend.
An item a filter keeps out is recorded as seen and never posted.
"""

from __future__ import annotations

from bot.models import Detractor, Ticket
from bot.subscription_rules import Filters


def _names(*values: str | None) -> set[str]:
    return {v.strip().lower() for v in values if v}


def ticket_matches(filters: Filters, ticket: Ticket) -> bool:
    """Status and priority by the backend's value, label or neutral name; group by the
    category's (Epixel) or the assigned group's (Omnidesk) id or name; tag by name or keyword;
    text: every word in the subject or body."""
    status, priority = ticket.status, ticket.priority
    if filters.statuses and not (
        status and _names(status.value, status.label, status.neutral.value) & set(filters.statuses)
    ):
        return False
    if filters.priorities and not (
        priority
        and _names(priority.value, priority.label, priority.neutral.value) & set(filters.priorities)
    ):
        return False
    if filters.group is not None:
        category = ticket.category
        groups = _names(
            ticket.details.get("Group"), category and category.id, category and category.name
        )
        if filters.group.lower() not in groups:
            return False
    if filters.tag is not None:
        tags = set().union(*(_names(t.name, t.keyword, t.id) for t in ticket.tags))
        if filters.tag not in tags:
            return False
    if filters.text:
        haystack = f"{ticket.subject}\n{ticket.body or ''}".lower()
        return all(word in haystack for word in filters.text.split())
    return True


def detractor_matches(filters: Filters, detractor: Detractor) -> bool:
    """Rating within the range (a detractor without a rating is outside any range); any of the
    words in the comment."""
    if filters.rating_min is not None:
        try:
            rating = int(detractor.rating)
        except ValueError:
            return False
        if not filters.rating_min <= rating <= (filters.rating_max or 10):
            return False
    if filters.words:
        comment = detractor.comment.lower()
        return any(word in comment for word in filters.words)
    return True
