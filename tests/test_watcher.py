"""The ticket watcher: a watched ticket changed in a sandbox is one DM to each watcher naming the
change; a watcher's own change through ticketbot is not (both paths over HTTP and Socket Mode,
from `/ticket watch` on); quiet hours hold and summarise; one
check serves every watcher of a ticket, and a listing serves many tickets of one owner."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.changes import Change
from bot.config import Settings
from bot.credentials import OmnideskCredentials, account_key
from bot.sandbox import epixel, omnidesk
from bot.sandbox.run import Sandboxes
from bot.watcher import TicketWatcher
from bot.watches import Watch
from tests.conftest import connect_sandbox_accounts
from tests.harness import TEAM, BotUnderTest, SlackUser

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
STEP = timedelta(seconds=300)
OTHER = "U0OTHER"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Every check of an Epixel ticket reads its conversation (the spread is tested apart).
    return settings.model_copy(update={"watch_full_every": 1})


@pytest.fixture
def watcher(bot: BotUnderTest) -> TicketWatcher:
    return TicketWatcher(bot.services, bot.app.client)


async def _connect_omnidesk(bot: BotUnderTest, sandboxes: Sandboxes, user_id: str) -> None:
    creds = OmnideskCredentials(base_url=sandboxes.omnidesk.base_url, api_key=omnidesk.FULL_KEY)
    await bot.services.store.save_credentials(TEAM, user_id, creds)


async def _watch(bot: BotUnderTest, ref: str, *user_ids: str) -> None:
    assert bot.services.watches is not None
    for user_id in user_ids:
        await bot.services.watches.add_watch(
            Watch(ref=ref, team_id=TEAM, scope=TEAM, user_id=user_id)
        )


def _account(server: omnidesk.OmnideskSandbox) -> str:
    return account_key(OmnideskCredentials(base_url=server.base_url, api_key=omnidesk.FULL_KEY))


def _dms(bot: BotUnderTest, since: int = 0) -> list[dict]:
    return [c for c in bot.slack.calls_to("chat.postMessage")[since:] if c["channel"][0] == "U"]


def _ticket_calls(sandboxes: Sandboxes) -> int:
    return len(sandboxes.omnidesk.requests_to("/ticket"))


async def _first_omnidesk_ticket(sandboxes: Sandboxes) -> int:
    return next(t for t, v in sandboxes.omnidesk.tickets.items() if v["status"] != "closed")


async def _watched_by_two_over(
    bot: BotUnderTest, sandboxes: Sandboxes
) -> tuple[SlackUser, TicketWatcher, int, str]:
    """An agent and OTHER (both connected) each type `/ticket watch` for one open Omnidesk
    ticket over the transport under test; the watcher has seen it once (the baseline)."""
    await connect_sandbox_accounts(bot, sandboxes, "U0AGENT")
    await _connect_omnidesk(bot, sandboxes, OTHER)
    ticket_id = await _first_omnidesk_ticket(sandboxes)
    ref = f"omnidesk:{ticket_id}"
    agent = bot.user("U0AGENT")
    for count, person in enumerate([agent, bot.user(OTHER)], start=1):
        await person.command(f"watch {ref}")
        said = (await bot.slack.wait_for("response_url", count=count))[-1]
        assert said["text"].startswith(":eyes: You are watching")
    watcher = TicketWatcher(bot.services, bot.app.client)
    assert await watcher.check_due(now=T0) == 1  # the baseline
    assert _dms(bot) == []
    return agent, watcher, ticket_id, ref


async def test_a_status_changed_in_the_sandbox_is_one_dm_to_each_watcher(
    bot_over: BotUnderTest, sandboxes: Sandboxes
) -> None:
    bot = bot_over
    agent, watcher, ticket_id, ref = await _watched_by_two_over(bot, sandboxes)
    before = sandboxes.omnidesk.tickets[ticket_id]["status"]
    sandboxes.omnidesk.tickets[ticket_id]["status"] = "closed"  # as an agent in Omnidesk would
    assert await watcher.check_due(now=T0 + STEP / 2) == 0  # not due yet: nothing read
    await watcher.check_due(now=T0 + STEP)

    dms = _dms(bot)
    assert sorted(dm["channel"] for dm in dms) == sorted([agent.user_id, OTHER])
    for dm in dms:
        blocks = json.dumps(dm["blocks"], ensure_ascii=False)
        assert f"*Status:* {before.title()} → Closed" in blocks
        assert f"{ref} changed" in dm["text"]
        actions = [b for b in dm["blocks"] if b["type"] == "actions"]
        assert actions and actions[0]["block_id"] == f"ticket|{ref}"
    await watcher.check_due(now=T0 + 2 * STEP)  # nothing changed since: no new DM
    assert len(_dms(bot)) == 2


async def test_a_change_the_watcher_made_through_ticketbot_is_no_dm_to_them(
    bot_over: BotUnderTest, sandboxes: Sandboxes
) -> None:
    bot = bot_over
    agent, watcher, ticket_id, ref = await _watched_by_two_over(bot, sandboxes)
    done = asyncio.Event()

    async def heard(change: Change) -> None:
        done.set()

    bot.services.changes.subscribe(heard)  # after the watcher's own listener
    await agent.command(f"status {ref} closed")  # signed, over the transport under test
    await asyncio.wait_for(done.wait(), 5)
    before = len(_dms(bot))
    await watcher.check_due(now=T0 + STEP)
    [dm] = _dms(bot, before)
    assert dm["channel"] == OTHER and "→ Closed" in json.dumps(dm["blocks"], ensure_ascii=False)

    # The control: the same kind of change made in Omnidesk itself does reach the agent.
    sandboxes.omnidesk.tickets[ticket_id]["status"] = "open"
    before = len(bot.slack.calls_to("chat.postMessage"))
    await watcher.check_due(now=T0 + 2 * STEP)
    assert sorted(dm["channel"] for dm in _dms(bot, before)) == sorted([agent.user_id, OTHER])


async def test_a_new_comment_is_a_dm_with_its_author_and_first_lines(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes, watcher: TicketWatcher
) -> None:
    sandbox = sandboxes.epixel
    ticket_id = next(t for t, v in sandbox.tickets.items() if v["_owner"] == epixel.DEMO_USER)
    await _watch(bot, f"epixel:{ticket_id}", agent.user_id)
    await watcher.check_due(now=T0)
    sandbox.conversations.append(
        {
            "id": len(sandbox.conversations) + 1,
            "ticket": ticket_id,
            "comment": "The router is back <online>\nthanks\nline three\nline four",
            "author": "support-anna",
        }
    )
    await watcher.check_due(now=T0 + STEP)
    [dm] = _dms(bot)
    text = json.dumps(dm["blocks"], ensure_ascii=False)
    assert "*New comment* by support-anna" in text
    assert "The router is back &lt;online&gt;" in text  # escaped
    assert "line three" in text and "line four" not in text  # the first lines only


async def test_quiet_hours_hold_the_dms_and_one_summary_follows(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes, watcher: TicketWatcher
) -> None:
    watches = bot.services.watches
    assert watches is not None
    prefs = await watches.prefs(TEAM, agent.user_id)
    prefs.quiet, prefs.tz = "19:00-08:00", "Europe/Amsterdam"
    await watches.save_prefs(TEAM, agent.user_id, prefs)
    evening = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)  # 21:00 in Amsterdam
    first, second = list(sandboxes.omnidesk.tickets)[:2]
    await _watch(bot, f"omnidesk:{first}", agent.user_id)
    await _watch(bot, f"omnidesk:{second}", agent.user_id)
    await watcher.check_due(now=evening)

    sandboxes.omnidesk.tickets[first]["status"] = "holding"
    sandboxes.omnidesk.tickets[second]["priority"] = "urgent"
    await watcher.check_due(now=evening + STEP)
    sandboxes.omnidesk.tickets[first]["title"] = "Renamed at night"
    await watcher.check_due(now=evening + 2 * STEP)
    assert _dms(bot) == []
    held = (await watches.prefs(TEAM, agent.user_id)).held
    assert sorted(h["ref"] for h in held) == sorted(
        [f"omnidesk:{first}", f"omnidesk:{first}", f"omnidesk:{second}"]
    )

    morning = datetime(2026, 12, 2, 7, 5, tzinfo=UTC)  # 08:05 in Amsterdam
    # Another instance sharing the store is sending this person's summary: this one waits.
    work, lease = bot.services.work, f"held:{TEAM}:{agent.user_id}"
    assert await work.claim(lease, "another-instance", 60)
    await watcher.check_due(now=morning)
    assert _dms(bot) == []
    await work.release(lease, "another-instance")
    await watcher.check_due(now=morning)
    [summary] = _dms(bot)
    text = json.dumps(summary["blocks"], ensure_ascii=False)
    assert summary["text"] == "2 watched ticket(s) changed while you were away"
    assert text.count(f"`omnidesk:{first}`") == 1  # grouped per ticket
    assert "→ Holding" in text and "→ Renamed at night" in text and "→ Urgent" in text
    assert (await watches.prefs(TEAM, agent.user_id)).held == []
    await watcher.check_due(now=morning + STEP)
    assert len(_dms(bot)) == 1  # the summary is sent once


async def test_one_check_serves_three_watchers(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes, watcher: TicketWatcher
) -> None:
    people = [agent.user_id, OTHER, "U0THIRD"]
    for user_id in people[1:]:
        await _connect_omnidesk(bot, sandboxes, user_id)
    ticket_id = await _first_omnidesk_ticket(sandboxes)
    await _watch(bot, f"omnidesk:{ticket_id}", *people)
    await watcher.check_due(now=T0)
    ticket = sandboxes.omnidesk.tickets[ticket_id]
    ticket["priority"] = "low" if ticket["priority"] != "low" else "high"
    before = _ticket_calls(sandboxes)
    await watcher.check_due(now=T0 + STEP)
    assert _ticket_calls(sandboxes) - before == 1
    assert sorted(dm["channel"] for dm in _dms(bot)) == sorted(people)


async def test_many_tickets_of_one_owner_cost_fewer_list_calls_than_tickets(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes, watcher: TicketWatcher
) -> None:
    ids = list(sandboxes.omnidesk.tickets)[:20]
    for ticket_id in ids:
        await _watch(bot, f"omnidesk:{ticket_id}", agent.user_id)
    before = _ticket_calls(sandboxes)
    await watcher.check_due(now=T0)
    baseline_calls = _ticket_calls(sandboxes) - before
    for ticket_id in ids[:5]:
        sandboxes.omnidesk.tickets[ticket_id]["title"] += " (edited)"
    before = _ticket_calls(sandboxes)
    await watcher.check_due(now=T0 + STEP)
    calls = sandboxes.omnidesk.requests[-(_ticket_calls(sandboxes) - before) :]
    assert baseline_calls < len(ids) and len(calls) < len(ids)
    assert {c.path for c in calls} == {"/api/v2/ticket"}  # the list, not one get each
    assert len(_dms(bot)) == 5


async def test_a_deleted_ticket_is_one_dm_and_the_watch_ends(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes, watcher: TicketWatcher
) -> None:
    ticket_id = await _first_omnidesk_ticket(sandboxes)
    ref = f"omnidesk:{ticket_id}"
    await _watch(bot, ref, agent.user_id)
    await watcher.check_due(now=T0)
    title = sandboxes.omnidesk.tickets.pop(ticket_id)["title"]
    await watcher.check_due(now=T0 + STEP)
    [dm] = _dms(bot)
    assert f"{ref} is gone" in dm["text"] and title in json.dumps(dm["blocks"], ensure_ascii=False)
    assert bot.services.watches is not None
    assert await bot.services.watches.watchers(ref) == []


async def test_a_backend_error_backs_the_ticket_off_and_the_next_check_recovers(
    bot: BotUnderTest,
    agent: SlackUser,
    sandboxes: Sandboxes,
    watcher: TicketWatcher,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ticket_id = await _first_omnidesk_ticket(sandboxes)
    ref = f"omnidesk:{ticket_id}"
    await _watch(bot, ref, agent.user_id)
    await watcher.check_due(now=T0)
    sandboxes.omnidesk.faults.html_times = 1  # a sign-in page instead of JSON
    await watcher.check_due(now=T0 + STEP)
    assert bot.services.watches is not None
    seen = await bot.services.watches.seen(ref, _account(sandboxes.omnidesk))
    assert seen is not None and seen.failures == 1
    assert seen.next_check == T0 + STEP + 2 * STEP  # backed off: twice the interval
    [line] = [r.getMessage() for r in caplog.records if "watch check" in r.getMessage()]
    assert omnidesk.FULL_KEY not in line
    sandboxes.omnidesk.tickets[ticket_id]["status"] = "closed"
    assert await watcher.check_due(now=T0 + 2 * STEP) == 0  # still backing off
    await watcher.check_due(now=T0 + 3 * STEP)
    [dm] = _dms(bot)
    assert "Closed" in dm["text"]


async def test_credentials_refused_for_one_watcher_pass_the_ticket_to_another(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes, watcher: TicketWatcher
) -> None:
    bad = OmnideskCredentials(base_url=sandboxes.omnidesk.base_url, api_key="revoked-key")
    await bot.services.store.save_credentials(TEAM, "U0ZZZ", bad)  # sorts last: tried first
    ticket_id = await _first_omnidesk_ticket(sandboxes)
    await _watch(bot, f"omnidesk:{ticket_id}", "U0ZZZ", agent.user_id)
    await watcher.check_due(now=T0)
    sandboxes.omnidesk.tickets[ticket_id]["status"] = "closed"
    await watcher.check_due(now=T0 + STEP)
    # U0ZZZ's own credentials were refused the ticket: they are not told what it says.
    assert [dm["channel"] for dm in _dms(bot)] == [agent.user_id]
    # Removed credentials are not used any more: with none left, the ticket waits.
    await bot.services.store.delete_credentials(TEAM, agent.user_id, "omnidesk")
    await bot.services.store.delete_credentials(TEAM, "U0ZZZ", "omnidesk")
    before = _ticket_calls(sandboxes)
    assert await watcher.check_due(now=T0 + 2 * STEP) == 0  # no one left to read it for
    assert _ticket_calls(sandboxes) == before


async def test_the_same_ticket_number_in_another_account_is_another_ticket(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes, watcher: TicketWatcher
) -> None:
    # A second Omnidesk account (its own base URL), holding a ticket with the same number.
    other = omnidesk.OmnideskSandbox("127.0.0.1")
    await other.start(0)
    try:
        creds = OmnideskCredentials(base_url=other.base_url, api_key=omnidesk.FULL_KEY)
        await bot.services.store.save_credentials(TEAM, OTHER, creds)
        await _connect_omnidesk(bot, sandboxes, "U0SAME")  # the control: the agent's account
        ticket_id = await _first_omnidesk_ticket(sandboxes)
        assert ticket_id in other.tickets
        ref = f"omnidesk:{ticket_id}"
        await _watch(bot, ref, agent.user_id, "U0SAME", OTHER)
        await watcher.check_due(now=T0)
        sandboxes.omnidesk.tickets[ticket_id]["status"] = "closed"
        await watcher.check_due(now=T0 + STEP)
        # Same account: both told; the other account's watcher is not told of this one.
        assert sorted(dm["channel"] for dm in _dms(bot)) == sorted([agent.user_id, "U0SAME"])
        assert other.tickets[ticket_id]["status"] != "closed"
        watches = bot.services.watches
        assert watches is not None
        mine = await watches.seen(ref, _account(sandboxes.omnidesk))
        theirs = await watches.seen(ref, _account(other))
        assert mine is not None and mine.fields["status"] != theirs.fields["status"]
        # Their own account's ticket changing is theirs alone.
        other.tickets[ticket_id]["status"] = "closed"
        await watcher.check_due(now=T0 + 2 * STEP)
        assert [dm["channel"] for dm in _dms(bot)[2:]] == [OTHER]
    finally:
        await other.stop()
