"""Subscriptions and the alert ledger in PostgreSQL (``AlertStore``).

Rows hold the same JSON as the embedded store's tables (the ledger's personal data sealed with
the store's keys); a few columns beside it are what queries select on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from bot.store.embedded import rescoped
from bot.store.postgres import PgStore
from bot.subscriptions import (
    Alert,
    FeedItem,
    Subscription,
    alert_from_row,
    bare_row,
    in_window,
    is_open,
    ledger_row,
    maybe_in_window,
)


class PgAlertStore:
    """Subscriptions, the ledger and the open alerts, in the database of ``store``."""

    def __init__(self, store: PgStore) -> None:
        self._store = store

    async def aclose(self) -> None:
        """Nothing of its own to close: the credential store closes the connection."""

    # Subscriptions -----------------------------------------------------------------------------

    async def save(self, sub: Subscription) -> None:
        """Write (and commit) ``sub``."""
        await (await self._store.pool()).execute(
            "INSERT INTO subscriptions (id, team_id, channel_id, body) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (id) DO UPDATE SET team_id = $2, channel_id = $3, body = $4",
            sub.id,
            sub.team_id,
            sub.channel_id,
            sub.model_dump(mode="json"),
        )

    async def get(self, sub_id: str) -> Subscription | None:
        """The subscription, or None."""
        body = await (await self._store.pool()).fetchval(
            "SELECT body FROM subscriptions WHERE id = $1", sub_id
        )
        return None if body is None else Subscription.model_validate(body)

    async def all(self) -> list[Subscription]:
        """Every subscription, oldest first."""
        rows = await (await self._store.pool()).fetch("SELECT body FROM subscriptions ORDER BY seq")
        return [Subscription.model_validate(row["body"]) for row in rows]

    async def for_channel(self, team_id: str, channel_id: str) -> list[Subscription]:
        """The channel's subscriptions, oldest first."""
        rows = await (await self._store.pool()).fetch(
            "SELECT body FROM subscriptions WHERE team_id = $1 AND channel_id = $2 ORDER BY seq",
            team_id,
            channel_id,
        )
        return [Subscription.model_validate(row["body"]) for row in rows]

    async def adopt(self, scope: str, user_id: str, teams: tuple[str, ...]) -> int:
        """Point the user's subscriptions made in ``teams`` before Grid keys at ``scope``."""
        pool = await self._store.pool()
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT id, body FROM subscriptions WHERE team_id = any($1::text[]) FOR UPDATE",
                list(teams),
            )
            changed = [
                (row["id"], new)
                for row in rows
                if (new := rescoped(row["body"], "subscriber", user_id, teams, scope))
            ]
            await conn.executemany("UPDATE subscriptions SET body = $2 WHERE id = $1", changed)
            return len(changed)

    async def delete(self, sub: Subscription) -> None:
        """Remove the subscription; its ledger rows stay harmlessly (ids are never reused)."""
        await (await self._store.pool()).execute("DELETE FROM subscriptions WHERE id = $1", sub.id)

    async def delete_owned(self, owned: Callable[[str, str], bool]) -> int:
        """Remove the subscriptions for which ``owned(team_id, owner scope)`` holds, with their
        ledger rows (personal data); returns how many subscriptions went."""
        pool = await self._store.pool()
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch("SELECT id, team_id, body FROM subscriptions FOR UPDATE")
            gone = [
                row["id"]
                for row in rows
                if owned(row["team_id"], row["body"].get("scope") or row["team_id"])
            ]
            await conn.execute("DELETE FROM ledger WHERE subscription_id = any($1::text[])", gone)
            await conn.execute(
                "DELETE FROM feed_ledger WHERE subscription_id = any($1::text[])", gone
            )
            await conn.execute("DELETE FROM subscriptions WHERE id = any($1::text[])", gone)
        return len(gone)

    # Ledger ------------------------------------------------------------------------------------

    async def seen(self, sub_id: str, ticket_ids: Iterable[int]) -> set[int]:
        """Which of ``ticket_ids`` the ledger already has for ``sub_id``."""
        rows = await (await self._store.pool()).fetch(
            "SELECT ticket_id FROM ledger WHERE subscription_id = $1"
            " AND ticket_id = any($2::bigint[])",
            sub_id,
            list(ticket_ids),
        )
        return {row["ticket_id"] for row in rows}

    async def _upsert(self, rows: list[tuple[str, int, bool, dict[str, Any]]]) -> None:
        pool = await self._store.pool()
        async with pool.acquire() as conn, conn.transaction():
            await conn.executemany(
                "INSERT INTO ledger (subscription_id, ticket_id, is_open, body)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT (subscription_id, ticket_id)"
                " DO UPDATE SET is_open = $3, body = $4",
                rows,
            )

    async def record(self, alerts: Iterable[Alert]) -> None:
        """Write alerts to the ledger, with whether each awaits its reminder, in one commit."""
        await self._upsert(
            [
                (a.subscription_id, a.detractor.ticket_id, is_open(a), ledger_row(self._store, a))
                for a in alerts
            ]
        )

    async def mark_seen(self, sub_id: str, ticket_ids: Iterable[int]) -> None:
        """Record ids as known without anything else about them."""
        await self._upsert([(sub_id, t, False, bare_row(sub_id, t)) for t in ticket_ids])

    async def alert(self, sub_id: str, ticket_id: int) -> Alert | None:
        """The alert with its detractor, or None if unknown or kept as a bare id."""
        body = await (await self._store.pool()).fetchval(
            "SELECT body FROM ledger WHERE subscription_id = $1 AND ticket_id = $2",
            sub_id,
            ticket_id,
        )
        return alert_from_row(self._store, body)

    async def update_alert(
        self, sub_id: str, ticket_id: int, change: Callable[[Alert], bool]
    ) -> Alert | None:
        """See ``AlertStore.update_alert``: the row locked until the transaction ends."""
        pool = await self._store.pool()
        async with pool.acquire() as conn, conn.transaction():
            body = await conn.fetchval(
                "SELECT body FROM ledger WHERE subscription_id = $1 AND ticket_id = $2 FOR UPDATE",
                sub_id,
                ticket_id,
            )
            alert = alert_from_row(self._store, body)
            if alert is not None and change(alert):
                await conn.execute(
                    "UPDATE ledger SET is_open = $3, body = $4"
                    " WHERE subscription_id = $1 AND ticket_id = $2",
                    sub_id,
                    ticket_id,
                    is_open(alert),
                    ledger_row(self._store, alert),
                )
            return alert

    async def open_alerts(self) -> list[Alert]:
        """Alerts the poller still has work on (``bot.subscriptions.is_open``): a deadline
        reminder, or linked tickets to check."""
        rows = await (await self._store.pool()).fetch("SELECT body FROM ledger WHERE is_open")
        found = (alert_from_row(self._store, row["body"]) for row in rows)
        return [a for a in found if a is not None]

    async def alerts_between(self, sub_id: str, start: datetime, end: datetime) -> list[Alert]:
        """The subscription's alerts whose detractor arrived in [start, end)."""
        # The primary key's prefix selects the subscription; rows without a plain "at" (written
        # before it was kept) are opened and checked one by one.
        rows = await (await self._store.pool()).fetch(
            "SELECT body FROM ledger WHERE subscription_id = $1 AND body ? 'sealed' AND"
            " (NOT body ? 'at' OR ((body->>'at')::timestamptz >= $2"
            " AND (body->>'at')::timestamptz < $3))",
            sub_id,
            start,
            end,
        )
        bodies = [row["body"] for row in rows if maybe_in_window(row["body"], start, end)]
        found = (alert_from_row(self._store, body) for body in bodies)
        return [a for a in found if a is not None and in_window(a, start, end)]

    # Ticket feeds ------------------------------------------------------------------------------

    async def feed_items(self, sub_id: str, ticket_ids: Iterable[str]) -> dict[str, FeedItem]:
        """See ``AlertStore.feed_items``; one query."""
        rows = await (await self._store.pool()).fetch(
            "SELECT ticket_id, body FROM feed_ledger WHERE subscription_id = $1"
            " AND ticket_id = any($2::text[])",
            sub_id,
            list(ticket_ids),
        )
        return {row["ticket_id"]: FeedItem.model_validate(row["body"]) for row in rows}

    async def record_feed(self, items: Iterable[FeedItem]) -> None:
        """See ``AlertStore.record_feed``; one transaction."""
        rows = [(i.subscription_id, i.ticket_id, i.ts, i.model_dump(mode="json")) for i in items]
        pool = await self._store.pool()
        async with pool.acquire() as conn, conn.transaction():
            await conn.executemany(
                "INSERT INTO feed_ledger (subscription_id, ticket_id, ts, body)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT (subscription_id, ticket_id)"
                " DO UPDATE SET ts = $3, body = $4",
                rows,
            )

    async def feed_posted(self, sub_id: str) -> list[FeedItem]:
        """See ``AlertStore.feed_posted``."""
        rows = await (await self._store.pool()).fetch(
            "SELECT body FROM feed_ledger WHERE subscription_id = $1 AND ts IS NOT NULL",
            sub_id,
        )
        return [FeedItem.model_validate(row["body"]) for row in rows]

    # At rest -----------------------------------------------------------------------------------

    async def rotate_keys(self) -> int:
        """Re-encrypt the ledger's personal data under the newest key, in one transaction."""
        pool = await self._store.pool()
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT subscription_id, ticket_id, body FROM ledger WHERE body ? 'sealed'"
                " FOR UPDATE"
            )
            await conn.executemany(
                "UPDATE ledger SET body = $3 WHERE subscription_id = $1 AND ticket_id = $2",
                [
                    (r[0], r[1], {**r["body"], "sealed": self._store.reseal(r["body"]["sealed"])})
                    for r in rows
                ],
            )
            return len(rows)
