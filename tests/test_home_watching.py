"""App Home's watched tickets and watch settings, over HTTP and Socket Mode: the rows come from
the store in the first publish and live in the second, merged with the person's own tickets once
each; Watch/Unwatch on Home republishes it; "watch the tickets I create" is switched there."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from bot.blocks.home import REFRESHING
from bot.credentials import OmnideskCredentials
from bot.ids import Action
from bot.sandbox import epixel, omnidesk
from bot.sandbox.run import Sandboxes
from bot.store import WatchStore
from bot.watcher import TicketWatcher
from tests.conftest import connect_sandbox_accounts
from tests.harness import TEAM, BotUnderTest, SlackUser
from tests.test_home import _buttons, _published, _publishes, _text

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _watches(bot: BotUnderTest) -> WatchStore:
    assert bot.services.watches is not None
    return bot.services.watches


async def _watch(bot: BotUnderTest, user: SlackUser, *refs: str) -> None:
    """``user`` types `/ticket watch <ref>` for each, as a person would."""
    for n, ref in enumerate(refs, start=1):
        await user.command(f"watch {ref}")
        said = (await bot.slack.wait_for("response_url", count=n))[n - 1]
        assert said["text"].startswith(":eyes: You are watching"), said["text"]


async def test_watched_rows_come_from_the_store_at_once_then_live(
    bot_over: BotUnderTest, sandboxes: Sandboxes
) -> None:
    creds = OmnideskCredentials(base_url=sandboxes.omnidesk.base_url, api_key=omnidesk.FULL_KEY)
    await bot_over.services.store.save_credentials(TEAM, "U0WATCHER", creds)
    watcher = bot_over.user("U0WATCHER")
    first_id, second_id = list(sandboxes.omnidesk.tickets)[:2]
    refs = [f"omnidesk:{first_id}", f"omnidesk:{second_id}"]
    await _watch(bot_over, watcher, *refs)
    await TicketWatcher(bot_over.services, bot_over.app.client).check_due(now=T0)
    seen_title = sandboxes.omnidesk.tickets[first_id]["title"]
    sandboxes.omnidesk.tickets[first_id]["title"] = "Renamed since the watcher looked"
    sandboxes.omnidesk.faults.latency = 1.0

    started = time.monotonic()
    await watcher.open_home()
    first = await _published(bot_over, 1)
    assert _publishes(bot_over)[0].at - started < 1.0  # before Omnidesk could answer
    assert REFRESHING in _text(first)
    assert seen_title in _text(first) and "last seen <!date^" in _text(first)
    assert sorted(_buttons(first, Action.TICKET_SHOW)) == sorted(refs)
    assert sorted(_buttons(first, Action.TICKET_UNWATCH)) == sorted(refs)

    live = await _published(bot_over, 2)
    assert REFRESHING not in _text(live)
    assert "Renamed since the watcher looked" in _text(live)
    assert sorted(_buttons(live, Action.TICKET_SHOW)) == sorted(refs)
    assert sorted(_buttons(live, Action.TICKET_UNWATCH)) == sorted(refs)
    assert sorted(_buttons(live, Action.TICKET_STATUS)) == sorted(refs)  # Omnidesk's own buttons

    # Unwatch on Home: the watch ends and Home is published again without that row.
    sandboxes.omnidesk.faults.latency = 0.0
    await watcher.click(Action.TICKET_UNWATCH, refs[0], view=live)
    after = await _published(bot_over, 3)
    assert _buttons(after, Action.TICKET_SHOW) == [refs[1]]
    assert [w.ref for w in await _watches(bot_over).watches_of(TEAM, "U0WATCHER")] == [refs[1]]
    assert _buttons(await _published(bot_over, 4), Action.TICKET_SHOW) == [refs[1]]


async def test_own_and_watched_tickets_merge_once_each_and_watch_works_on_home(
    bot_over: BotUnderTest, sandboxes: Sandboxes
) -> None:
    await connect_sandbox_accounts(bot_over, sandboxes, "U0AGENT")
    agent = bot_over.user("U0AGENT")
    own = [t for t, v in sandboxes.epixel.tickets.items() if v["_owner"] == epixel.DEMO_USER]
    watched_own = f"epixel:{max(own)}"  # the newest: in the own list's first page
    watched_omnidesk = f"omnidesk:{next(iter(sandboxes.omnidesk.tickets))}"
    await _watch(bot_over, agent, watched_own, watched_omnidesk)

    await agent.open_home()
    home = await _published(bot_over, 2)
    shown = _buttons(home, Action.TICKET_SHOW)
    assert len(shown) == len(set(shown))  # an own ticket that is watched is one row
    assert watched_own in shown
    other_own = next(r for r in shown if r.startswith("epixel:") and r != watched_own)
    assert watched_omnidesk in shown  # Omnidesk cannot say whose: there because it is watched
    assert sorted(_buttons(home, Action.TICKET_UNWATCH)) == sorted([watched_own, watched_omnidesk])
    assert other_own in _buttons(home, Action.TICKET_WATCH)

    await agent.click(Action.TICKET_WATCH, other_own, view=home)
    rewatched = await _published(bot_over, 3)  # at once, from the store and the cached rows
    assert other_own in _buttons(rewatched, Action.TICKET_UNWATCH)
    assert other_own in [w.ref for w in await _watches(bot_over).watches_of(TEAM, "U0AGENT")]
    await _published(bot_over, 4)


async def test_watch_what_i_create_is_switched_on_home_beside_the_quiet_hours(
    bot_over: BotUnderTest,
) -> None:
    watches = _watches(bot_over)
    prefs = await watches.prefs(TEAM, "U0QUIET")
    prefs.quiet, prefs.tz = "19:00-08:00", "Europe/Amsterdam"
    await watches.save_prefs(TEAM, "U0QUIET", prefs)
    person = bot_over.user("U0QUIET")
    await person.open_home()
    home = await _published(bot_over, 1)
    assert "Quiet hours: 19:00–08:00 in your time zone, Europe/Amsterdam" in _text(home)
    assert _buttons(home, Action.HOME_WATCH_CREATED) == ["off"]

    await person.click(Action.HOME_WATCH_CREATED, "off", view=home)
    off = await _published(bot_over, 2)
    assert _buttons(off, Action.HOME_WATCH_CREATED) == ["on"]
    assert "are not watched for you" in _text(off)
    assert (await watches.prefs(TEAM, "U0QUIET")).watch_created is False

    await person.click(Action.HOME_WATCH_CREATED, "on", view=off)
    assert _buttons(await _published(bot_over, 3), Action.HOME_WATCH_CREATED) == ["off"]
    assert (await watches.prefs(TEAM, "U0QUIET")).watch_created is True

    # A forged value changes nothing and says what to do.
    await person.click(Action.HOME_WATCH_CREATED, "maybe", view=off)
    told = (await bot_over.slack.wait_for("chat.postMessage"))[-1]
    assert told["channel"] == "U0QUIET" and "open the Home tab again" in told["text"]
    assert (await watches.prefs(TEAM, "U0QUIET")).watch_created is True
