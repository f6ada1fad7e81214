"""Whose account reads QuestionPro when someone other than the subscriber clicks "Show them"."""

from __future__ import annotations

from bot.alerts import DetractorPoller
from bot.credentials import QuestionProCredentials
from bot.ids import Action
from bot.sandbox import questionpro
from bot.sandbox.run import Sandboxes
from tests.harness import TEAM, BotUnderTest
from tests.test_alerts import CHANNEL, subscribed

BOB_KEY = "qp-bob-own-key-5d1e"


async def test_show_them_reads_with_the_clickers_account_or_asks_them_to_connect(
    bot: BotUnderTest, sandboxes: Sandboxes
) -> None:
    store = bot.services.store
    await store.save_credentials(
        TEAM, "U0CX", QuestionProCredentials(datacenter="eu", api_key=questionpro.DEMO_API_KEY)
    )
    sandboxes.questionpro.api_keys.add(BOB_KEY)
    await store.save_credentials(
        TEAM, "U0BOB", QuestionProCredentials(datacenter="eu", api_key=BOB_KEY)
    )
    poller = DetractorPoller(bot.services, bot.app.client)
    sub = await subscribed(bot, bot.user("U0CX", CHANNEL), poller)
    qp = sandboxes.questionpro
    before = len(qp.requests)

    # Bob is connected: the list is fetched with Bob's key, not the subscriber's.
    await bot.user("U0BOB", CHANNEL).click(Action.ALERTS_SHOW_EXISTING, sub.id)
    await bot.slack.wait_for("chat.postMessage", count=3)
    fetched = qp.requests[before:]
    assert fetched and {r.headers.get("api-key") for r in fetched} == {BOB_KEY}

    # Eve is not connected: she gets the usual Connect prompt, and QuestionPro hears nothing.
    before = len(qp.requests)
    await bot.user("U0EVE", CHANNEL).click(Action.ALERTS_SHOW_EXISTING, sub.id)
    prompt = (await bot.slack.wait_for("response_url"))[-1]
    assert prompt["response_type"] == "ephemeral"
    button = prompt["blocks"][0]["accessory"]
    assert (button["action_id"], button["value"]) == (Action.CONNECT_OPEN, "questionpro")
    assert len(qp.requests) == before
