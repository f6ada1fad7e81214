"""Watching tickets from Slack: `/ticket watch|unwatch|watching|quiet`, the Watch/Unwatch button,
tickets watched when created through ticketbot, and forgetting it all at uninstall."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.ids import Action
from bot.sandbox import payloads
from bot.sandbox.driver import post_event
from bot.sandbox.run import Sandboxes
from bot.store import WatchStore
from bot.watches import TicketSeen, Watch, WatchPrefs
from tests.harness import TEAM, BotUnderTest, SlackUser
from tests.waiting import eventually


async def _said(bot: BotUnderTest, count: int) -> dict:
    return (await bot.slack.wait_for("response_url", count=count))[count - 1]


def _buttons(message: dict) -> dict[str, dict]:
    found: dict[str, dict] = {}
    for block in message.get("blocks") or []:
        for element in [*block.get("elements", []), block.get("accessory") or {}]:
            if element.get("type") == "button":
                found.setdefault(element["action_id"], element)
    return found


def _watches(bot: BotUnderTest) -> WatchStore:
    assert bot.services.watches is not None
    return bot.services.watches


async def _refs(bot: BotUnderTest, user: str = "U0AGENT") -> list[str]:
    return [w.ref for w in await _watches(bot).watches_of(TEAM, user)]


async def test_watch_then_watching_then_unwatch(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    ticket = sandboxes.omnidesk.create(title="Hinge broke", status="open")
    ref = f"omnidesk:{ticket['ticketID']}"
    await agent.command(f"watch {ref}")
    said = await _said(bot, 1)
    assert said["response_type"] == "ephemeral"
    assert said["text"].startswith(f":eyes: You are watching `{ref}`: *Hinge broke* (")
    assert _buttons(said)[Action.TICKET_UNWATCH]["value"] == ref
    assert await _refs(bot) == [ref]

    await agent.command(f"watch {ref}")
    assert (await _said(bot, 2))["text"].startswith(":eyes: You already watch")
    assert await _refs(bot) == [ref]  # still one watch

    await agent.command("watching")
    listing = await _said(bot, 3)
    heading = listing["blocks"][0]["text"]["text"]
    assert "You watch 1 ticket(s)" in heading and "last saw" in heading
    row = listing["blocks"][1]["text"]["text"]
    assert f"`{ref}`" in row and "not checked yet" in row and "watched since <!date^" in row
    assert _buttons(listing)[Action.TICKET_SHOW]["value"] == ref

    await agent.command(f"unwatch {ref}")
    assert (await _said(bot, 4))["text"] == f"You no longer watch `{ref}`."
    assert await _refs(bot) == []
    await agent.command(f"unwatch {ref}")
    assert (await _said(bot, 5))["text"].startswith("You were not watching")


async def test_watching_reads_the_store_alone_newest_first_in_pages(bot: BotUnderTest) -> None:
    # Nobody connected anything: a backend call would fail with "not connected".
    reader = bot.user("U0READER")
    watches, start = _watches(bot), datetime(2026, 3, 1, tzinfo=UTC)
    for n in range(12):
        ref = f"omnidesk:{500 + n}"
        since = start + timedelta(hours=n)
        await watches.add_watch(
            Watch(ref=ref, team_id=TEAM, scope=TEAM, user_id="U0READER", since=since, account="a1")
        )
        fields = {"title": f"Ticket {n}", "status": "Open"}
        await watches.save_seen(TicketSeen(ref=ref, account="a1", fields=fields, checked_at=since))
    await reader.command("watching")
    first = await _said(bot, 1)
    rows = [b["text"]["text"] for b in first["blocks"][1:] if b["type"] == "section"]
    assert (
        len(rows) == 10 and rows[0].startswith("*Ticket 11*") and rows[9].startswith("*Ticket 2*")
    )
    assert "Open" in rows[0] and "last seen <!date^" in rows[0]
    await reader.click(f"{Action.WATCHING_PAGE}.next", "10")
    second = await _said(bot, 2)
    rows = [b["text"]["text"] for b in second["blocks"][1:] if b["type"] == "section"]
    assert [r.split("*")[1] for r in rows] == ["Ticket 1", "Ticket 0"]
    assert second["replace_original"] is True

    await reader.click(Action.WATCHING_UNWATCH, '{"r": "omnidesk:500", "o": 10}')
    redrawn = await _said(bot, 3)
    assert redrawn["text"].startswith("No longer watching `omnidesk:500`. You watch 11 ticket(s)")
    assert "omnidesk:500" not in await _refs(bot, "U0READER")


async def test_a_ticket_that_does_not_exist_is_not_watched(
    bot: BotUnderTest, agent: SlackUser
) -> None:
    await agent.command("watch omnidesk:999999")
    said = await _said(bot, 1)
    assert said["text"].startswith("`omnidesk:999999` was not found in Omnidesk")
    assert "nothing is watched" in said["text"]
    assert await _refs(bot) == []


async def test_watching_a_backend_not_connected_offers_the_connect_button(
    bot: BotUnderTest,
) -> None:
    newcomer = bot.user("U0NEW")
    await newcomer.command("watch epixel:5")
    said = await _said(bot, 1)
    assert said["text"].startswith("You have not connected epixel yet.")
    assert _buttons(said)[Action.CONNECT_OPEN]["value"] == "epixel"
    assert await _refs(bot, "U0NEW") == []


async def test_read_only_ispcrm_tickets_can_be_watched(bot: BotUnderTest, agent: SlackUser) -> None:
    await agent.command("show ispcrm:101")
    shown = await _said(bot, 1)
    assert set(_buttons(shown)) == {Action.TICKET_WATCH}  # no change buttons, but Watch
    await agent.click(Action.TICKET_WATCH, "ispcrm:101")
    assert (await _said(bot, 2))["text"].startswith(
        ":eyes: You are watching `ispcrm:101`: *Internet not working*"
    )
    assert await _refs(bot) == ["ispcrm:101"]


async def test_the_button_toggles_and_answers_the_clicker_alone(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    ref = f"omnidesk:{next(iter(sandboxes.omnidesk.tickets))}"
    await agent.command(f"show {ref}")
    watch = _buttons(await _said(bot, 1))[Action.TICKET_WATCH]
    assert (watch["text"]["text"], watch["value"]) == ("Watch", ref)

    await agent.click(Action.TICKET_WATCH, ref)
    answer = await _said(bot, 2)
    assert answer["response_type"] == "ephemeral" and answer["replace_original"] is False
    assert await _refs(bot) == [ref]
    unwatch = _buttons(answer)[Action.TICKET_UNWATCH]
    assert unwatch["text"]["text"] == "Unwatch"

    await agent.command(f"show {ref}")  # shown to a watcher: the button says Unwatch
    assert Action.TICKET_UNWATCH in _buttons(await _said(bot, 3))

    await agent.click(Action.TICKET_UNWATCH, ref, blocks=answer["blocks"])
    undone = await _said(bot, 4)
    assert undone["text"] == f"You no longer watch `{ref}`."
    assert Action.TICKET_WATCH in _buttons(undone)
    assert await _refs(bot) == []


async def _create_in_omnidesk(bot: BotUnderTest, agent: SlackUser, title: str) -> str:
    await agent.command("create omnidesk")
    view = (await bot.slack.wait_for("views.open"))[-1]["view"]
    posts = len(bot.slack.calls_to("chat.postMessage"))
    await agent.submit(view, {"title": title, "from": "ann@example.com", "direction": "inbound"})
    posted = (await bot.slack.wait_for("chat.postMessage", count=posts + 1))[-1]
    assert title in posted["text"]
    return posted["text"].split("`")[1]


async def test_tickets_created_through_ticketbot_are_watched_unless_turned_off(
    bot: BotUnderTest, agent: SlackUser
) -> None:
    first = await _create_in_omnidesk(bot, agent, "Door squeaks")
    assert await _refs(bot) == [first]
    [watch] = await _watches(bot).watchers(first)
    assert watch.source == "created"

    await agent.command("watch created:off")
    assert "no longer be watched" in (await _said(bot, 1))["text"]
    assert (await _watches(bot).prefs(TEAM, "U0AGENT")).watch_created is False
    second = await _create_in_omnidesk(bot, agent, "Window cracked")
    assert second != first and await _refs(bot) == [first]

    await agent.command("watch created:on")
    await _said(bot, 2)
    third = await _create_in_omnidesk(bot, agent, "Roof leaks")
    assert await _refs(bot) == [third, first]


async def test_quiet_hours_take_the_time_zone_slack_has_for_the_person(
    bot: BotUnderTest,
) -> None:
    bot.slack.add_user("U0NY", tz="America/New_York")
    person = bot.user("U0NY")
    await person.command("quiet 19:00-8:00")
    said = await _said(bot, 1)
    assert "19:00–08:00 in your time zone, America/New_York" in said["text"]
    [asked] = bot.slack.calls_to("users.info")
    assert asked["user"] == "U0NY"
    prefs = await _watches(bot).prefs(TEAM, "U0NY")
    assert (prefs.quiet, prefs.tz) == ("19:00-08:00", "America/New_York")

    await person.command("quiet off")
    assert (await _said(bot, 2))["text"].startswith(":bell: No quiet hours")
    assert (await _watches(bot).prefs(TEAM, "U0NY")).quiet is None


async def test_quiet_hours_that_are_not_times_say_the_format(bot: BotUnderTest) -> None:
    person = bot.user("U0Q")
    for count, typed in enumerate(("25:00-08:00", "after dinner", "8:00-8:00"), start=1):
        await person.command(f"quiet {typed}")
        said = await _said(bot, count)
        assert "`/ticket quiet 19:00-08:00` (24-hour HH:MM-HH:MM" in said["text"], said["text"]
    assert await _watches(bot).prefs(TEAM, "U0Q") == WatchPrefs()
    assert bot.slack.calls_to("users.info") == []  # refused before asking Slack anything


async def test_uninstalling_forgets_the_workspaces_watches_and_settings(
    bot: BotUnderTest,
) -> None:
    watches = _watches(bot)
    await watches.add_watch(Watch(ref="omnidesk:1", team_id=TEAM, scope=TEAM, user_id="U1"))
    await watches.add_watch(
        Watch(ref="omnidesk:2", team_id="T0OTHER", scope="T0OTHER", user_id="U2")
    )
    await watches.save_prefs(TEAM, "U1", WatchPrefs(quiet="19:00-08:00"))
    answer = await post_event(
        bot, payloads.event_callback(payloads.app_uninstalled(), team_id=TEAM)
    )
    assert answer.status_code == 200

    async def only_the_other_workspaces() -> bool:
        return await watches.watched_refs() == ["omnidesk:2"]

    await eventually(only_the_other_workspaces, what="the other workspace's watch alone")
    assert await watches.prefs(TEAM, "U1") == WatchPrefs()
