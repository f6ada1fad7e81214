"""A person's App Home: opened with and without accounts, first from the store and then with
their tickets, and its buttons (connect, disconnect, pause, resume, unsubscribe, open)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError

from bot.alerts import DetractorPoller
from bot.blocks import as_dicts
from bot.blocks.home import REFRESHING
from bot.credentials import OmnideskCredentials, QuestionProCredentials
from bot.ids import Action
from bot.sandbox import omnidesk, questionpro
from bot.sandbox.run import Sandboxes
from bot.sandbox.slack import Call
from tests.conftest import connect_sandbox_accounts
from tests.harness import TEAM, BotUnderTest, SlackUser
from tests.test_connect import OMNIDESK_KEY
from tests.waiting import eventually


def _publishes(bot: BotUnderTest) -> list[Call]:
    return [c for c in bot.slack.calls if c.method == "views.publish"]


async def _published(bot: BotUnderTest, count: int, within: float = 10.0) -> dict[str, Any]:
    """The ``count``-th Home view published, waiting for it."""
    return (await bot.slack.wait_for("views.publish", count=count, within=within))[count - 1][
        "view"
    ]


def _text(view: dict[str, Any]) -> str:
    return json.dumps(view["blocks"], ensure_ascii=False)


def _buttons(view: dict[str, Any], action_id: str) -> list[str]:
    """The values of every ``action_id`` button on the view."""
    found = []
    for block in view["blocks"]:
        elements = block.get("elements", []) if block["type"] == "actions" else []
        for element in [block.get("accessory") or {}, *elements]:
            if element.get("action_id") == action_id:
                found.append(element["value"])
    return found


def _backend_requests(sandboxes: Sandboxes) -> int:
    return sum(
        len(s.requests)
        for s in (sandboxes.epixel, sandboxes.omnidesk, sandboxes.ispcrm, sandboxes.questionpro)
    )


async def test_home_without_accounts_offers_every_connect_and_asks_no_backend(
    bot: BotUnderTest, sandboxes: Sandboxes
) -> None:
    newcomer = bot.user("U0NEW")
    await newcomer.open_home(tab="messages")  # the Messages tab: nothing to publish
    answer = await newcomer.open_home()
    assert answer.status_code == 200
    view = await _published(bot, 1)
    assert view["type"] == "home"
    assert sorted(_buttons(view, Action.HOME_CONNECT)) == [
        "epixel",
        "ispcrm",
        "omnidesk",
        "questionpro",
    ]
    assert REFRESHING not in _text(view)  # nothing to refresh: no backend is asked
    assert "Your own tickets show here from Epixel and ISPCRM" in _text(view)
    assert bot.slack.calls_to("views.publish")[0]["user_id"] == "U0NEW"
    # Opening Home again publishes again (and only that): the Messages tab published nothing.
    await newcomer.open_home()
    await _published(bot, 2)
    assert len(_publishes(bot)) == 2
    assert _backend_requests(sandboxes) == 0


async def test_connect_from_home_then_disconnect_redraw_home(
    bot: BotUnderTest, sandboxes: Sandboxes
) -> None:
    sandboxes.omnidesk.keys[OMNIDESK_KEY] = {"TICKET_READ", "TICKET_CREATE"}
    alice = bot.user("U0ALICE")
    await alice.open_home()
    home = await _published(bot, 1)
    await alice.click(Action.HOME_CONNECT, "omnidesk", view=home)
    form = (await bot.slack.wait_for("views.open"))[-1]["view"]
    assert [b["block_id"] for b in form["blocks"] if b["type"] == "input"] == [
        "base_url",
        "api_key",
    ]
    await alice.submit(form, {"base_url": sandboxes.omnidesk.base_url, "api_key": OMNIDESK_KEY})
    connected = await _published(bot, 2)
    assert _buttons(connected, Action.HOME_DISCONNECT) == ["omnidesk"]
    assert "omnidesk" not in _buttons(connected, Action.HOME_CONNECT)
    assert "`…3f9a`" in _text(connected)

    await alice.click(Action.HOME_DISCONNECT, "omnidesk", view=connected)
    gone = await _published(bot, 3)
    assert _buttons(gone, Action.HOME_DISCONNECT) == []
    assert "omnidesk" in _buttons(gone, Action.HOME_CONNECT)
    assert await bot.services.store.list_credentials(TEAM, "U0ALICE") == {}


async def test_home_appears_from_the_store_before_a_slow_backend_answers_then_with_tickets(
    bot_over: BotUnderTest, sandboxes: Sandboxes
) -> None:
    await connect_sandbox_accounts(bot_over, sandboxes, "U0AGENT", omnidesk=False)
    sandboxes.epixel.faults.latency = sandboxes.ispcrm.faults.latency = 1.0
    agent = bot_over.user("U0AGENT")
    started = time.monotonic()
    await agent.open_home()
    first = await _published(bot_over, 1)
    first_at = _publishes(bot_over)[0].at
    assert first_at - started < 1.0  # before either backend could answer
    assert REFRESHING in _text(first)
    assert _buttons(first, Action.HOME_DISCONNECT) == ["epixel", "ispcrm"]

    second = await _published(bot_over, 2)
    assert _publishes(bot_over)[1].at - started >= 1.0
    assert REFRESHING not in _text(second)
    refs = _buttons(second, Action.TICKET_SHOW)
    assert any(r.startswith("ispcrm:") for r in refs) and any(r.startswith("epixel:") for r in refs)
    assert Action.TICKET_DELETE not in _text(second)  # no Delete on Home: nothing to answer in
    assert Action.TICKET_COMMENT in _text(second)  # Epixel's own buttons are there

    # The next visit shows those rows at once (cached), while asking again.
    await agent.open_home()
    cached = await _published(bot_over, 3)
    assert REFRESHING in _text(cached)
    assert _buttons(cached, Action.TICKET_SHOW) == refs
    await _published(bot_over, 4)


async def test_a_backend_that_is_down_is_one_warning_line(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    sandboxes.ispcrm.faults.status, sandboxes.ispcrm.faults.status_times = 503, 100
    bot.services.settings.list_timeout = 1.0
    await agent.open_home()
    view = await _published(bot, 2)
    text = _text(view)
    assert text.count(":warning:") == 1
    assert "ISPCRM: " in text
    refs = _buttons(view, Action.TICKET_SHOW)
    assert refs and all(r.startswith("epixel:") for r in refs)  # Omnidesk cannot say whose


async def test_open_on_home_sends_the_ticket_to_the_dm(bot: BotUnderTest, agent: SlackUser) -> None:
    await agent.open_home()
    view = await _published(bot, 2)
    ref = _buttons(view, Action.TICKET_SHOW)[0]
    await agent.click(Action.TICKET_SHOW, ref, view=view)
    sent = (await bot.slack.wait_for("chat.postMessage"))[-1]
    assert sent["channel"] == "U0AGENT"
    assert ref in sent["text"]


@pytest.fixture
async def subscriber(bot_over: BotUnderTest) -> SlackUser:
    await bot_over.services.store.save_credentials(
        TEAM, "U0CXM", QuestionProCredentials(api_key=questionpro.DEMO_API_KEY)
    )
    cx = bot_over.user("U0CXM", "C0CX")
    await cx.command("subscribe detractors segment:999")
    # The confirmation is posted first, then the subscription is saved.
    await eventually(bot_over.services.alerts.all, what="the subscription saved")
    return cx


async def test_pause_resume_and_unsubscribe_from_home(
    bot_over: BotUnderTest, subscriber: SlackUser, sandboxes: Sandboxes
) -> None:
    bot = bot_over
    (sub,) = await bot.services.alerts.all()
    poller = DetractorPoller(bot.services, bot.app.client)
    await subscriber.open_home()
    home = await _published(bot, 1)
    assert "<#C0CX>" in _text(home) and "segment 999" in _text(home)
    assert "Active" in _text(home) and "not polled yet" in _text(home)

    await subscriber.click(Action.HOME_PAUSE, sub.id, view=home)
    paused = await _published(bot, 2)
    assert "Paused by you" in _text(paused)
    assert _buttons(paused, Action.HOME_RESUME) == [sub.id]
    said = (await bot.slack.wait_for("chat.postMessage", count=2))[-1]
    assert said["channel"] == "C0CX" and "paused the QuestionPro detractor alerts" in said["text"]

    # The poller skips it, even after QuestionPro is connected again (that resumes only a pause
    # for refused credentials).
    await bot.services.store.save_credentials(
        TEAM, "U0CXM", QuestionProCredentials(api_key=questionpro.DEMO_API_KEY)
    )
    await poller.poll(sub.id)
    assert sandboxes.questionpro.requests == []
    stored = await bot.services.alerts.get(sub.id)
    assert stored is not None and stored.paused == "user"

    await subscriber.click(Action.HOME_RESUME, sub.id, view=paused)
    resumed = await _published(bot, 3)
    assert _buttons(resumed, Action.HOME_PAUSE) == [sub.id]
    await poller.poll(sub.id)  # the control: once resumed, a poll asks QuestionPro
    assert sandboxes.questionpro.requests
    await subscriber.open_home()
    polled = await _published(bot, 4)
    assert "last poll" in _text(polled) and "(ok)" in _text(polled)

    await subscriber.click(Action.HOME_UNSUBSCRIBE, sub.id, view=polled)
    removed = await _published(bot, 5)
    assert _buttons(removed, Action.HOME_UNSUBSCRIBE) == []
    assert await bot.services.alerts.all() == []


async def test_pausing_a_ticket_feed_names_the_feed(
    bot_over: BotUnderTest, sandboxes: Sandboxes
) -> None:
    bot = bot_over
    await bot.services.store.save_credentials(
        TEAM,
        "U0FEED",
        OmnideskCredentials(base_url=sandboxes.omnidesk.base_url, api_key=omnidesk.FULL_KEY),
    )
    feeder = bot.user("U0FEED", "C0CX")
    await feeder.command("subscribe omnidesk")
    (sub,) = await eventually(bot.services.alerts.all, what="the feed saved")
    await feeder.open_home()
    home = await _published(bot, 1)
    posted = len(bot.slack.calls_to("chat.postMessage"))
    await feeder.click(Action.HOME_PAUSE, sub.id, view=home)
    paused = (await bot.slack.wait_for("chat.postMessage", count=posted + 1))[-1]
    assert paused["text"].startswith(":pause_button: <@U0FEED> paused the new Omnidesk tickets")
    await feeder.click(Action.HOME_RESUME, sub.id, view=await _published(bot, 2))
    resumed = (await bot.slack.wait_for("chat.postMessage", count=posted + 2))[-1]
    assert "resumed the new Omnidesk tickets here" in resumed["text"]
    assert "QuestionPro" not in paused["text"] + resumed["text"]


async def test_someone_else_cannot_pause_a_subscription(
    bot_over: BotUnderTest, subscriber: SlackUser
) -> None:
    (sub,) = await bot_over.services.alerts.all()
    await subscriber.open_home()
    home = await _published(bot_over, 1)
    await bot_over.user("U0OTHER").click(Action.HOME_PAUSE, sub.id, view=home)
    told = (await bot_over.slack.wait_for("chat.postMessage", count=2))[-1]
    assert told["channel"] == "U0OTHER"
    assert "Only <@U0CXM>" in told["text"]
    stored = await bot_over.services.alerts.get(sub.id)
    assert stored is not None and stored.paused is None


async def test_the_stand_in_refuses_a_home_over_100_blocks(bot: BotUnderTest) -> None:
    from slack_sdk.models.blocks import DividerBlock

    blocks = as_dicts([DividerBlock() for _ in range(101)])
    with pytest.raises(SlackApiError) as refused:
        await bot.app.client.views_publish(user_id="U1", view={"type": "home", "blocks": blocks})
    assert refused.value.response["error"] == "invalid_arguments"
    ok = await bot.app.client.views_publish(
        user_id="U1", view={"type": "home", "blocks": blocks[:100]}
    )
    assert ok["view"]["id"] and ok["view"]["hash"]
