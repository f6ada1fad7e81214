"""Issue 15 item 5: QuestionPro's Closed Loop ticket API as a second detractor source.

The CLF sandbox answers as https://www.questionpro.com/api/cx/get-clf-tickets.html shows.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.alerts import DetractorPoller
from bot.backends.questionpro import QuestionProBackend
from bot.backends.registry import Backends
from bot.credentials import QuestionProCredentials
from bot.sandbox import questionpro
from bot.sandbox.questionpro_clf import DEMO_WORKSPACE_ID
from bot.sandbox.run import Sandboxes
from bot.subscriptions import now
from tests.harness import TEAM, BotUnderTest, SlackUser
from tests.test_alerts import CHANNEL, alerts_posted, posts, subscribed, ticket_ids

CLF = QuestionProCredentials(
    datacenter="eu", api_key=questionpro.DEMO_API_KEY, workspace_id=DEMO_WORKSPACE_ID
)


@pytest.fixture
async def clf_cx(bot: BotUnderTest) -> SlackUser:
    await bot.services.store.save_credentials(TEAM, "U0CX", CLF)
    return bot.user("U0CX", CHANNEL)


async def quiet_since(bot: BotUnderTest, sub_id: str, *, days: int) -> None:
    """Pretend the subscription last saw a new detractor ``days`` ago."""
    sub = await bot.services.alerts.get(sub_id)
    assert sub is not None and sub.baseline_done
    sub.last_detractor_at = now() - timedelta(days=days)
    await bot.services.alerts.save(sub)


@pytest.fixture
def poller(bot: BotUnderTest) -> DetractorPoller:
    return DetractorPoller(bot.services, bot.app.client)


async def test_a_workspace_id_reads_closed_loop_tickets(
    backends: Backends, sandboxes: Sandboxes
) -> None:
    assert sandboxes.questionpro_clf is not None
    clf = sandboxes.questionpro_clf
    clf.add_tickets(
        1, created_shape=True
    )  # create-clf-ticket.html's shape: comment, not description
    backend = backends.for_credentials(CLF)
    assert isinstance(backend, QuestionProBackend) and backend.source == "Closed Loop"

    seen = [d async for d in backend.iter_detractors(per_page=5)]

    assert [d.ticket_id for d in seen] == [t["id"] for t in clf.tickets]
    assert seen[0].comment == clf.tickets[0]["comment"]
    assert seen[1].email == clf.tickets[1]["customerEmail"]
    assert seen[1].comment == clf.tickets[1]["description"]
    sent = clf.requests[-1]
    assert (sent.method, sent.path) == (
        "GET",
        f"/api/v2/cx/closedloop/workspaces/{DEMO_WORKSPACE_ID}/tickets",
    )
    assert sent.headers["api-key"] == questionpro.DEMO_API_KEY
    assert [r.query["page"] for r in clf.requests] == [["1"], ["2"], ["3"]]  # 13 by 5
    assert not sandboxes.questionpro.requests_to("detractors")


def test_the_closed_loop_host_follows_the_datacenter() -> None:
    from bot.backends.questionpro_clf import clf_base_url_for

    assert clf_base_url_for(CLF, None) == "https://clf-backend.questionpro.eu/api/v2/"


async def test_alerts_read_the_connections_chosen_source(
    bot: BotUnderTest, clf_cx: SlackUser, poller: DetractorPoller, sandboxes: Sandboxes
) -> None:
    assert sandboxes.questionpro_clf is not None
    sub = await subscribed(bot, clf_cx, poller)
    new = sandboxes.questionpro_clf.add_tickets(2)

    await poller.poll(sub.id)

    assert sorted(ticket_ids(alerts_posted(bot))) == sorted(t["id"] for t in new)
    assert not sandboxes.questionpro.requests_to("detractors")


async def test_a_quiet_source_says_once_that_the_other_has_detractors(
    bot: BotUnderTest, clf_cx: SlackUser, poller: DetractorPoller, sandboxes: Sandboxes
) -> None:
    sub = await subscribed(bot, clf_cx, poller)
    await quiet_since(bot, sub.id, days=30)

    await poller.poll(sub.id)
    await poller.poll(sub.id)

    notices = [p for p in posts(bot, channel=CHANNEL) if "detractor list has some" in p["text"]]
    assert len(notices) == 1
    assert "without a workspace id" in notices[0]["text"]


async def test_a_detractor_source_that_goes_quiet_points_at_closed_loop(
    bot: BotUnderTest, poller: DetractorPoller
) -> None:
    await bot.services.store.save_credentials(
        TEAM, "U0CX", QuestionProCredentials(datacenter="eu", api_key=questionpro.DEMO_API_KEY)
    )
    sub = await subscribed(bot, bot.user("U0CX", CHANNEL), poller)
    await quiet_since(bot, sub.id, days=30)

    await poller.poll(sub.id)

    notices = [p for p in posts(bot, channel=CHANNEL) if "Closed Loop workspace id" in p["text"]]
    assert len(notices) == 1
