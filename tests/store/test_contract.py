"""One contract, both stores: every method of the store interface, run against the embedded
sqlite store and against a real PostgreSQL server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet

from bot.credentials import EpixelCredentials, QuestionProCredentials
from bot.errors import StoreKeyError
from bot.import_jobs import Chunk, ImportJob
from bot.models import Detractor, NeutralStatus
from bot.store import Stores
from bot.subscriptions import Alert, FeedItem, Subscription, TicketLink, alert_from_row, ledger_row
from bot.tickets import Actor
from tests.waiting import eventually

QP = QuestionProCredentials(datacenter="us", api_key="qp-secret-key-123")
EP = EpixelCredentials(base_url="https://ep.example.com", api_key="ep-k", access_token="ep-t")


def detractor(
    ticket_id: int, email: str = "ann@example.com", at: datetime | None = None
) -> Detractor:
    return Detractor(
        ticket_id=ticket_id,
        response_id=ticket_id * 10,
        email=email,
        comment="slow",
        created_at=at or datetime(2026, 1, 2, tzinfo=UTC),
        timelimit_hours=48,
    )


# Credentials -----------------------------------------------------------------------------------


async def test_credentials_round_trip_list_stamp_and_delete(stores: Stores) -> None:
    store = stores.store
    assert await store.load_credentials("T1", "U1", "questionpro") is None
    assert await store.credentials_stamp("T1", "U1", "questionpro") is None
    await store.save_credentials("T1", "U1", QP)
    await store.save_credentials("T1", "U1", EP)
    await store.save_credentials("T1", "U2", QP)
    assert await store.load_credentials("T1", "U1", "questionpro") == QP
    assert await store.list_credentials("T1", "U1") == {"questionpro": QP, "epixel": EP}
    first = await store.credentials_stamp("T1", "U1", "questionpro")
    await store.save_credentials("T1", "U1", QP)
    second = await store.credentials_stamp("T1", "U1", "questionpro")
    assert first and second and second > first  # a reconnect is visible to paused alerts
    assert await store.delete_credentials("T1", "U1", "questionpro") is True
    assert await store.delete_credentials("T1", "U1", "questionpro") is False
    assert await store.list_credentials("T1", "U1") == {"epixel": EP}
    assert await store.load_credentials("T1", "U2", "questionpro") == QP


async def test_adopting_copies_workspace_credentials_once_and_delete_takes_both(
    stores: Stores,
) -> None:
    store = stores.store
    await store.save_credentials("T1", "U1", QP)
    await store.save_credentials("E1", "U1", EP)  # already under the org: not overwritten
    await store.save_credentials("T2", "U1", EP)
    assert await store.adopt_credentials("E1", "U1", ("T1", "T2")) == 1
    assert await store.adopt_credentials("E1", "U1", ("T1", "T2")) == 0
    assert await store.list_credentials("E1", "U1") == {"questionpro": QP, "epixel": EP}
    assert await store.load_credentials("T1", "U1", "questionpro") == QP  # left as it was
    assert await store.delete_credentials("E1", "U1", "questionpro")
    assert await store.load_credentials("T1", "U1", "questionpro") is None
    assert await store.adopt_credentials("E1", "U1", ("E1",)) == 0


async def test_sealing_opens_only_with_the_keys_and_reseals(stores: Stores) -> None:
    token = stores.store.seal({"email": "ann@example.com"})
    assert "ann@example.com" not in token
    assert stores.store.open_sealed(token) == {"email": "ann@example.com"}
    again = stores.store.reseal(token)
    assert stores.store.open_sealed(again) == {"email": "ann@example.com"}


async def test_a_wrong_key_is_refused_and_rotation_moves_everything(
    open_any, stores: Stores, secret_key: str
) -> None:
    await stores.store.save_credentials("T1", "U1", QP)
    sub = Subscription(team_id="T1", channel_id="C1", subscriber="U1")
    await stores.alerts.save(sub)
    await stores.alerts.record(
        [Alert(subscription_id=sub.id, detractor=detractor(7), channel_id="C1")]
    )
    await stores.aclose()
    new = Fernet.generate_key().decode()
    with pytest.raises(StoreKeyError, match="different key"):
        await open_any(new)
    rotating = await open_any(f"{new},{secret_key}")
    assert await rotating.rotate_keys() == (1, 1)
    await rotating.aclose()
    reopened = await open_any(new)
    assert await reopened.store.load_credentials("T1", "U1", "questionpro") == QP
    alert = await reopened.alerts.alert(sub.id, 7)
    assert alert is not None and alert.detractor.email == "ann@example.com"


async def test_each_request_is_remembered_once_even_when_raced(stores: Stores) -> None:
    memory = stores.store
    answers = await asyncio.gather(*(memory.remember_request("k1", 60) for _ in range(20)))
    assert answers.count(True) == 1
    assert await memory.remember_request("k2", 60) is True
    assert await memory.remember_request("short", 0.05) is True
    await eventually(lambda: memory.remember_request("short", 0.05), what="expiry: new again")
    assert await memory.remember_request("k1", 60) is False


# Subscriptions and the ledger ------------------------------------------------------------------


async def test_subscriptions_save_get_list_and_delete(stores: Stores) -> None:
    alerts = stores.alerts
    one = Subscription(team_id="T1", channel_id="C1", subscriber="U1", segment_id=9)
    two = Subscription(team_id="T1", channel_id="C2", subscriber="U1")
    await alerts.save(one)
    await alerts.save(two)
    one.failures = 3
    await alerts.save(one)
    assert await alerts.get(one.id) == one
    assert await alerts.get("nope") is None
    assert {s.id for s in await alerts.all()} == {one.id, two.id}
    assert await alerts.for_channel("T1", "C1") == [one]
    await alerts.delete(one)
    assert await alerts.get(one.id) is None and await alerts.all() == [two]


async def test_subscriptions_are_adopted_into_the_org_once(stores: Stores) -> None:
    sub = Subscription(team_id="T1", channel_id="C1", subscriber="U1")
    other = Subscription(team_id="T1", channel_id="C1", subscriber="U2")
    await stores.alerts.save(sub)
    await stores.alerts.save(other)
    assert await stores.alerts.adopt("E1", "U1", ("T1",)) == 1
    assert await stores.alerts.adopt("E1", "U1", ("T1",)) == 0
    adopted = await stores.alerts.get(sub.id)
    assert adopted is not None and adopted.owner_scope == "E1"
    assert (await stores.alerts.get(other.id)).scope is None  # type: ignore[union-attr]


async def test_the_ledger_records_marks_and_lists_open_alerts(stores: Stores) -> None:
    alerts = stores.alerts
    opened = Alert(subscription_id="s1", detractor=detractor(1), channel_id="C1", state="open")
    digest = Alert(subscription_id="s1", detractor=detractor(2), channel_id="C1", note="called")
    await alerts.record([opened, digest])
    await alerts.mark_seen("s1", [3, 4])
    assert await alerts.seen("s1", [1, 2, 3, 5]) == {1, 2, 3}
    assert await alerts.seen("s2", [1]) == set()
    assert await alerts.alert("s1", 1) == opened
    assert await alerts.alert("s1", 2) == digest
    assert await alerts.alert("s1", 3) is None  # a bare id: nothing to redraw
    assert await alerts.open_alerts() == [opened]
    opened.state, opened.claimed_by = "claimed", "U9"
    await alerts.record([opened])
    assert await alerts.open_alerts() == [opened]  # claimed: its reminder is still owed
    opened.reminded = True
    await alerts.record([opened])
    assert await alerts.open_alerts() == []
    assert (await alerts.alert("s1", 1)).claimed_by == "U9"  # type: ignore[union-attr]


async def write_legacy_row(stores: Stores, kind: str, alert: Alert) -> None:
    """A ledger row as ticketbot wrote it before insights: no plain "at", no click times."""
    row = ledger_row(stores.store, alert)
    for newer in ("at", "claimed_at", "resolved_at"):
        del row[newer]
    if kind == "embedded":
        table = stores.alerts._ledger  # type: ignore[attr-defined]
        table[f"{alert.subscription_id}:{alert.detractor.ticket_id}"] = row
        table.commit()
    else:
        await (await stores.store.pool()).execute(  # type: ignore[attr-defined]
            "INSERT INTO ledger (subscription_id, ticket_id, body) VALUES ($1, $2, $3)",
            alert.subscription_id,
            alert.detractor.ticket_id,
            row,
        )


async def test_alerts_of_a_time_window_old_rows_included(stores: Stores, kind: str) -> None:
    alerts, day = stores.alerts, datetime(2026, 3, 1, tzinfo=UTC)
    claimed = day + timedelta(hours=2)

    def alert(sub: str, ticket: int, at: datetime, **fields) -> Alert:
        return Alert(
            subscription_id=sub, detractor=detractor(ticket, at=at), channel_id="C1", **fields
        )

    before = alert("s1", 1, day - timedelta(seconds=1))
    first = alert("s1", 2, day, state="claimed", claimed_by="U1", claimed_at=claimed)
    last = alert("s1", 3, day + timedelta(days=7) - timedelta(seconds=1))
    after = alert("s1", 4, day + timedelta(days=7))
    elsewhere = alert("s10", 5, day + timedelta(days=1))  # "s10:" shares the prefix "s1"
    await alerts.record([before, first, last, after, elsewhere])
    await alerts.mark_seen("s1", [6])  # a bare id: nothing to count
    legacy = alert("s1", 7, day + timedelta(days=3), state="resolved", resolved_by="U2")
    await write_legacy_row(stores, kind, legacy)
    await write_legacy_row(stores, kind, alert("s1", 8, day - timedelta(days=3)))

    found = await alerts.alerts_between("s1", day, day + timedelta(days=7))
    assert sorted(found, key=lambda a: a.detractor.ticket_id) == [first, last, legacy]
    assert next(a for a in found if a == first).claimed_at == claimed
    assert legacy.claimed_at is None and legacy in found
    assert await alerts.alerts_between("s2", day, day + timedelta(days=7)) == []


async def test_linked_tickets_keep_their_fields_and_keep_the_alert_checked(
    stores: Stores,
) -> None:
    alerts = stores.alerts
    link = TicketLink(
        ref="omnidesk:1001",
        by_scope="T1",
        by_user="U1",
        status_label="Open",
        status=NeutralStatus.OPEN,
        checked_at=datetime(2026, 1, 2, tzinfo=UTC),
        changed_by="U2",
        changed_to="closed",
        changed_at=datetime(2026, 1, 3, tzinfo=UTC),
    )
    alert = Alert(
        subscription_id="s1",
        detractor=detractor(1),
        channel_id="C1",
        state="claimed",
        claimed_by="U1",
        reminded=True,
        escalated=[link, TicketLink(ref="epixel:7")],  # the second as an old bare ref loads
    )
    await alerts.record([alert])
    assert await alerts.alert("s1", 1) == alert
    assert await alerts.open_alerts() == [alert]  # reminded, but its link is still checked
    alert.state, alert.resolved_by, alert.resolved_via = "resolved", None, "omnidesk:1001"
    await alerts.record([alert])
    assert await alerts.open_alerts() == [alert]  # closed there: checked for a reopen
    alert.resolved_via, alert.resolved_by = None, "U1"
    await alerts.record([alert])
    assert await alerts.open_alerts() == []  # resolved in Slack: nothing left to check


async def test_an_alert_is_updated_in_one_step_and_only_when_the_change_says_so(
    stores: Stores,
) -> None:
    alerts = stores.alerts
    await alerts.record(
        [Alert(subscription_id="s1", detractor=detractor(1), channel_id="C1", ts="1.000100")]
    )

    def claim_by(user: str) -> Callable[[Alert], bool]:
        def take(alert: Alert) -> bool:
            if alert.claimed_by is not None:
                return False
            alert.state, alert.claimed_by = "claimed", user
            return True

        return take

    # Two at once: the second sees the first's claim, not the row both started from.
    first, second = await asyncio.gather(
        alerts.update_alert("s1", 1, claim_by("U1")), alerts.update_alert("s1", 1, claim_by("U2"))
    )
    assert first is not None and second is not None
    assert first.claimed_by == second.claimed_by  # both report the one claim that won
    stored = await alerts.alert("s1", 1)
    assert stored is not None and stored.claimed_by == first.claimed_by
    assert stored.state == "claimed"

    def refuse(alert: Alert) -> bool:
        alert.claimed_by = "U9"
        return False

    unchanged = await alerts.update_alert("s1", 1, refuse)
    assert unchanged is not None and (await alerts.alert("s1", 1)) == stored  # nothing written

    def settle(alert: Alert) -> bool:
        alert.state, alert.resolved_by, alert.reminded = "resolved", "U1", True
        return True

    resolved = await alerts.update_alert("s1", 1, settle)
    assert resolved is not None and resolved.claimed_by == stored.claimed_by  # kept
    assert await alerts.alert("s1", 1) == resolved
    assert await alerts.open_alerts() == []  # the open list follows the update
    assert await alerts.update_alert("s1", 404, settle) is None


async def test_an_unclaimed_alert_stays_open_after_its_reminder_with_its_escalation_state(
    stores: Stores,
) -> None:
    alerts = stores.alerts
    nudged = Alert(
        subscription_id="s1",
        detractor=detractor(1),
        channel_id="C1",
        state="open",
        ts="1700000000.000100",
        reminded=True,
        nudged_at=datetime(2026, 1, 5, 9, 0, tzinfo=UTC),
        copy_channel_id="C2",
        copy_ts="1700000100.000200",
    )
    await alerts.record([nudged])
    # Reminders and the copy go on until someone claims it, so the 75% reminder keeps it open.
    assert await alerts.open_alerts() == [nudged]
    assert nudged.messages() == [("C1", "1700000000.000100"), ("C2", "1700000100.000200")]
    # A row written before these fields existed reads back with none of them set.
    row = ledger_row(stores.store, nudged)
    for key in ("nudged_at", "copy_channel_id", "copy_ts"):
        del row[key]
    old = alert_from_row(stores.store, row)
    assert (
        old is not None
        and old.nudged_at is None
        and old.messages() == [("C1", "1700000000.000100")]
    )


async def test_the_feed_ledger_records_updates_and_lists_posted_tickets(stores: Stores) -> None:
    alerts = stores.alerts
    baseline = FeedItem(subscription_id="s1", ticket_id="7")
    posted = FeedItem(subscription_id="s1", ticket_id="8", ts="1700000001.000100", status="new")
    await alerts.record_feed([baseline, posted])
    await alerts.record_feed([FeedItem(subscription_id="s2", ticket_id="8", ts="1.2")])
    assert await alerts.feed_items("s1", ["7", "8", "9"]) == {"7": baseline, "8": posted}
    assert await alerts.feed_items("s3", ["7"]) == {}
    assert await alerts.feed_posted("s1") == [posted]
    posted.status = "closed"
    await alerts.record_feed([posted])
    assert (await alerts.feed_items("s1", ["8"]))["8"].status == "closed"

    sub = Subscription(id="s1", team_id="T1", channel_id="C1", subscriber="U1", source="epixel")
    await alerts.save(sub)
    assert await alerts.delete_owned(lambda team, scope: team == "T1") == 1
    assert await alerts.feed_items("s1", ["7", "8"]) == {}  # removed with its subscription
    assert await alerts.feed_posted("s2") != []  # another subscription's rows stay


# Import jobs -----------------------------------------------------------------------------------


def job(**fields) -> ImportJob:
    defaults = {"team_id": "T1", "user_id": "U1", "file_name": "a.csv", "segment_code": "S"}
    return ImportJob(**{**defaults, **fields})


async def spool(stores: Stores, job_id: str, lines: int) -> None:
    def write() -> None:
        with stores.imports.open_spool(job_id) as out:
            for line in range(2, lines + 2):
                out.write(f'{line}\t{{"email":"c{line}@example.com"}}\n')

    await asyncio.to_thread(write)
    await stores.imports.keep_spool(job_id)


async def test_spooled_contacts_come_back_in_chunks_until_discarded(stores: Stores) -> None:
    one = job()
    await spool(stores, one.id, 5)
    assert await stores.imports.has_spool(one.id)
    chunks = [c async for c in stores.imports.spool_chunks(one.id, 2)]
    assert [[line for line, _ in chunk] for chunk in chunks] == [[2, 3], [4, 5], [6]]
    assert chunks[0][0][1] == '{"email":"c2@example.com"}'
    await stores.imports.discard_spool(one.id)
    await stores.imports.discard_spool(one.id)
    assert not await stores.imports.has_spool(one.id)


async def test_import_jobs_save_get_list_adopt(stores: Stores) -> None:
    imports = stores.imports
    old, new = job(), job(chunks=[Chunk(index=0, first_line=2, last_line=3, rows=2)])
    await imports.save(old)
    await imports.save(new)
    await imports.save(job(user_id="U2"))
    assert await imports.get(new.id) == new
    assert await imports.get("nope") is None
    assert [j.id for j in await imports.for_user(Actor("T1", "U1"))] == [new.id, old.id]
    assert [j.id for j in await imports.for_user(Actor("T1", "U1"), limit=1)] == [new.id]
    assert await imports.adopt("E1", "U1", ("T1",)) == 2
    assert await imports.adopt("E1", "U1", ("T1",)) == 0
    assert await imports.for_user(Actor("T1", "U1")) == []
    assert len(await imports.for_user(Actor("E1", "U1"))) == 2


async def test_expiry_forgets_contacts_no_job_needs(stores: Stores) -> None:
    imports = stores.imports
    stale, done, running = job(), job(state="done"), job()
    for each in (stale, done, running):
        await spool(stores, each.id, 2)
        await imports.save(each)
    orphan = job()
    await spool(stores, orphan.id, 1)  # contacts whose record never got written
    assert await imports.expire(timedelta(0), {running.id}) == 1
    assert (await imports.get(stale.id)).state == "expired"  # type: ignore[union-attr]
    assert not await imports.has_spool(stale.id)
    assert not await imports.has_spool(done.id)
    assert not await imports.has_spool(orphan.id)
    assert await imports.has_spool(running.id)
    assert await imports.expire(timedelta(hours=1), set()) == 0
    assert await imports.has_spool(running.id)


# Leases and the shared call counter ---------------------------------------------------------


async def _subscriptions(stores: Stores, count: int) -> list[str]:
    ids = []
    for n in range(count):
        sub = Subscription(
            id=f"S{n}",
            team_id="T1",
            channel_id=f"C{n}",
            subscriber="U1",
            segment_id=None,
            status=None,
            every_seconds=60,
        )
        await stores.alerts.save(sub)
        ids.append(sub.id)
    return ids


async def test_one_instance_holds_every_subscription_and_lapsed_leases_pass_on(
    stores: Stores, kind: str
) -> None:
    assert stores.leases is not None
    ids = await _subscriptions(stores, 4)
    assert await stores.leases.claim_subscriptions("a", 0.5, set()) == set(ids)
    if kind == "embedded":
        return  # one instance: nobody else to pass them to
    assert await stores.leases.claim_subscriptions("b", 30, set()) == set()  # all held by a
    # a stops renewing: its leases lapse within their 0.5 s, and b gets every one of them.
    taken: set[str] = set()

    async def all_taken() -> bool:
        taken.update(await stores.leases.claim_subscriptions("b", 30, set()))
        return taken == set(ids)

    await eventually(all_taken, what="a's lapsed leases passing to b")
    await stores.leases.release_subscriptions("b")
    assert await stores.leases.claim_subscriptions("a", 30, set()) == set(ids)


async def test_subscriptions_spread_over_live_instances_never_held_twice(
    stores: Stores, kind: str
) -> None:
    assert stores.leases is not None
    if kind == "embedded":
        pytest.skip("the embedded store serves one instance")
    ids = await _subscriptions(stores, 6)
    leases = stores.leases
    assert await leases.claim_subscriptions("a", 30, set()) == set(ids)
    # b joins: it is counted live, and a gives back what it is not polling beyond its share.
    assert await leases.claim_subscriptions("b", 30, set()) == set()
    busy = {"S0", "S1", "S2", "S3"}
    held_a = await leases.claim_subscriptions("a", 30, busy)
    assert held_a == busy  # above its share of 3, but never one it is polling right now
    held_b = await leases.claim_subscriptions("b", 30, set())
    assert held_b == {"S4", "S5"}
    held_a = await leases.claim_subscriptions("a", 30, set())
    held_b |= await leases.claim_subscriptions("b", 30, set())
    assert len(held_a) == len(held_b) == 3 and held_a | held_b == set(ids)
    # Concurrent claims by three instances: every subscription held exactly once.
    await leases.claim_subscriptions("c", 30, set())
    await asyncio.gather(*(leases.claim_subscriptions(who, 30, set()) for who in "abc" * 3))
    final = [await leases.claim_subscriptions(who, 30, set()) for who in "abcabc"][3:]
    held = [sub_id for got in final for sub_id in got]
    assert sorted(held) == sorted(set(ids)) and [len(got) for got in final] == [2, 2, 2]


async def test_named_leases_are_exclusive_until_released_or_lapsed(
    stores: Stores, kind: str
) -> None:
    leases = stores.leases
    assert leases is not None
    assert await leases.claim("import:J1", "a", 0.5)
    assert await leases.claim("import:J1", "a", 0.5)  # renewal
    assert not await leases.claim("import:J1", "b", 30)
    await leases.release("import:J1", "b")  # not b's: stays a's
    assert not await leases.claim("import:J1", "b", 30)
    await eventually(lambda: leases.claim("import:J1", "b", 30), what="a's lease lapsing")
    await leases.release("import:J1", "b")
    assert await leases.claim("import:J1", "a", 30)


async def test_the_call_counter_holds_a_limit_across_concurrent_callers(
    stores: Stores, kind: str
) -> None:
    leases = stores.leases
    assert leases is not None
    waits = await asyncio.gather(*(leases.take_call("qp:k", 5, 0.5) for _ in range(12)))
    if kind == "embedded":
        assert waits == [0.0] * 12  # the in-process limiter counts; the store does not
        return
    assert sorted(waits)[:5] == [0.0] * 5
    assert all(0 < wait <= 0.5 for wait in sorted(waits)[5:])
    assert await leases.take_call("qp:other", 5, 0.5) == 0.0  # buckets are separate
    await asyncio.sleep(max(waits))
    assert await leases.take_call("qp:k", 5, 0.5) == 0.0  # the window moved on
