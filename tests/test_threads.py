"""Two-way ticket threads through Events API payloads: a reply under a ticket message becomes a
comment written with the replier's own account (marked with a reaction), refusals come back
ephemerally with the reply quoted, `//` and the channel setting keep replies in Slack, bot
messages and edits are ignored, and backend comments reach the thread once, never as an echo."""

from __future__ import annotations

import json
from typing import Any

from bot.changes import Change
from bot.credentials import EpixelCredentials, account_key
from bot.ids import Action
from bot.models import Comment
from bot.sandbox import epixel, payloads
from bot.sandbox.driver import post_event
from bot.sandbox.run import Sandboxes
from bot.threads import ThreadSpot, post_backend_comment, remember_thread
from tests.conftest import connect_sandbox_accounts
from tests.harness import TEAM, BotUnderTest, SlackUser
from tests.waiting import eventually


async def _create(bot: BotUnderTest, user: SlackUser, backend: str, values: dict) -> str:
    """Create a ticket through the create form in the user's channel; the ticket message's ts."""
    await user.command(f"create {backend}")
    view = (await bot.slack.wait_for("views.open"))[-1]["view"]
    await user.submit(view, values)
    posted = (await bot.slack.wait_for("chat.postMessage"))[-1]
    assert posted["channel"] == user.channel_id
    # The bot links the thread once Slack has answered the post: wait for that, as a person
    # replying would (a reply before it is not in a ticket's thread yet).
    threads = bot.services.threads
    assert threads is not None
    spot = ThreadSpot(TEAM, user.channel_id, posted["_ts"])
    await eventually(lambda: threads.thread_ref(spot), what="the ticket's thread linked")
    return posted["_ts"]


async def _epixel_ticket(bot: BotUnderTest, user: SlackUser, sandboxes: Sandboxes) -> tuple:
    values = {"subject": "Checkout fails", "priority": "2", "category": "2", "comment": "Declined"}
    ts = await _create(bot, user, "epixel", values)
    return ts, max(sandboxes.epixel.tickets)


def _comments(sandboxes: Sandboxes, ticket_id: int) -> list[dict[str, Any]]:
    return [c for c in sandboxes.epixel.conversations if c["ticket"] == ticket_id]


async def _landed(bot: BotUnderTest, reply_ts: str, count: int = 1) -> dict[str, Any]:
    reactions = await bot.slack.wait_for("reactions.add", count)
    assert reactions[-1]["timestamp"] == reply_ts
    return reactions[-1]


async def test_a_reply_under_a_created_ticket_lands_as_the_repliers_comment(
    bot_over: BotUnderTest, sandboxes: Sandboxes
) -> None:
    bot = bot_over
    await connect_sandbox_accounts(bot, sandboxes, "U0AGENT")
    agent = bot.user("U0AGENT")
    changes: list[Change] = []

    async def heard(change: Change) -> None:
        changes.append(change)

    bot.services.changes.subscribe(heard)
    root, ticket_id = await _epixel_ticket(bot, agent, sandboxes)
    reply = await agent.reply(root, "Customer says <it's fixed> & thanks <@U0AGENT>", ts="9.1")
    assert reply.status_code == 200

    reaction = await _landed(bot, "9.1")
    assert (reaction["channel"], reaction["name"]) == ("C0GENERAL", "white_check_mark")
    latest = _comments(sandboxes, ticket_id)[-1]
    # Written with the replier's Epixel account, as plain text (Slack's escaping undone).
    assert latest["author"] == epixel.DEMO_USER
    assert latest["comment"] == "Customer says <it's fixed> & thanks @U0Agent"
    (comment,) = [c for c in changes if c.kind == "comment"]
    assert (comment.actor.user_id, comment.origin, comment.refs) == (
        "U0AGENT",
        "event",
        (f"epixel:{ticket_id}",),
    )
    assert bot.slack.calls_to("chat.postEphemeral") == []


async def test_a_reply_with_a_file_forwards_it_with_the_comment(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    root, ticket_id = await _epixel_ticket(bot, agent, sandboxes)
    log = bot.slack.add_file("log.txt", b"line 1\n", "text/plain")
    await agent.reply(root, "Here is the log", ts="9.2", files=[log])
    await _landed(bot, "9.2")
    attachment = max(sandboxes.epixel.attachments.values(), key=lambda a: a["id"])
    assert (attachment["ticket"], attachment["name"], attachment["content"]) == (
        ticket_id,
        "log.txt",
        b"line 1\n",
    )


async def test_a_replier_without_an_account_gets_connect_and_the_reply_back(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    root, ticket_id = await _epixel_ticket(bot, agent, sandboxes)
    before = len(_comments(sandboxes, ticket_id))
    newcomer = bot.user("U0NEW")
    await newcomer.reply(root, "Refund <b>now</b> & <!channel>", ts="9.3")

    (told,) = await bot.slack.wait_for("chat.postEphemeral")
    assert (told["user"], told["channel"], told["thread_ts"]) == ("U0NEW", "C0GENERAL", root)
    shown = json.dumps(told["blocks"])
    assert "You have not connected epixel yet" in shown
    assert Action.CONNECT_OPEN in shown
    # What they typed, quoted back escaped: nothing pings, nothing is lost.
    assert ">Refund &lt;b&gt;now&lt;/b&gt; &amp; @channel" in shown
    assert len(_comments(sandboxes, ticket_id)) == before
    assert bot.slack.calls_to("reactions.add") == []


async def test_a_refusal_is_in_epixels_words_and_proves_the_repliers_own_account(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    root, ticket_id = await _epixel_ticket(bot, agent, sandboxes)
    before = len(_comments(sandboxes, ticket_id))
    # A colleague connected with their own Epixel login, who does not own the ticket.
    await bot.services.store.save_credentials(
        TEAM,
        "U0PEER",
        EpixelCredentials(
            base_url=sandboxes.epixel.base_url,
            api_key=epixel.DEMO_API_KEY,
            username=epixel.OTHER_USER,
            password="other-password",
        ),
    )
    await bot.user("U0PEER").reply(root, "I'll take it", ts="9.4")
    (told,) = await bot.slack.wait_for("chat.postEphemeral")
    shown = json.dumps(told["blocks"])
    assert "You are not the owner of the requested ticket" in shown
    assert ">I'll take it" in shown
    assert Action.CONNECT_OPEN not in shown
    assert len(_comments(sandboxes, ticket_id)) == before


async def test_an_omnidesk_thread_says_there_is_no_comment_endpoint(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    values = {"title": "Hinge broke", "from": "ann@example.com", "direction": "inbound"}
    root = await _create(bot, agent, "omnidesk", values)
    await agent.reply(root, "Any news?", ts="9.5")
    (told,) = await bot.slack.wait_for("chat.postEphemeral")
    assert (
        "Omnidesk cannot take comments from ticketbot: its API has no comment endpoint"
        in (told["text"])
    )
    assert ">Any news?" in json.dumps(told["blocks"])


async def test_a_slash_slash_reply_stays_in_slack_and_the_same_without_is_sent(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    root, ticket_id = await _epixel_ticket(bot, agent, sandboxes)
    before = len(_comments(sandboxes, ticket_id))
    await agent.reply(root, "// just between us", ts="9.6")
    await agent.reply(root, "just between us", ts="9.7")  # the control: sent
    await _landed(bot, "9.7")
    assert [c["comment"] for c in _comments(sandboxes, ticket_id)[before:]] == ["just between us"]
    assert len(bot.slack.calls_to("reactions.add")) == 1


async def test_a_slack_only_channel_sends_only_replies_marked_to_the_ticket(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    root, ticket_id = await _epixel_ticket(bot, agent, sandboxes)
    before = len(_comments(sandboxes, ticket_id))
    await agent.command("threads slack-only")
    said = (await bot.slack.wait_for("response_url"))[-1]
    assert "stay in Slack" in said["text"]
    await agent.reply(root, "talking among ourselves", ts="9.8")
    await agent.reply(root, ">> please call the customer", ts="9.9")  # arrives as &gt;&gt;
    await _landed(bot, "9.9")
    sent = [c["comment"] for c in _comments(sandboxes, ticket_id)[before:]]
    assert sent == ["please call the customer"]

    await agent.command("threads comments")
    await bot.slack.wait_for("response_url", 2)
    await agent.reply(root, "back to normal", ts="9.10")
    await _landed(bot, "9.10", count=2)


async def test_bot_messages_and_edits_in_the_thread_are_ignored(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    root, ticket_id = await _epixel_ticket(bot, agent, sandboxes)
    before = len(_comments(sandboxes, ticket_id))
    from_bot = payloads.message_event(
        "a bot says hi", user="U0BOT", channel="C0GENERAL", ts="9.11", thread_ts=root, bot_id="B1"
    )
    await post_event(bot, payloads.event_callback(from_bot, team_id=TEAM))
    await agent.reply(root, "edited words", ts="9.12", edited_from="first words")
    await agent.reply(root, "a real reply", ts="9.13")  # the control
    await _landed(bot, "9.13")
    assert [c["comment"] for c in _comments(sandboxes, ticket_id)[before:]] == ["a real reply"]


async def test_a_reply_outside_a_ticket_thread_is_left_alone(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    root, ticket_id = await _epixel_ticket(bot, agent, sandboxes)
    before = len(_comments(sandboxes, ticket_id))
    await agent.reply("1.000001", "in some other thread", ts="9.14")
    await agent.reply(root, "in the ticket's thread", ts="9.15")  # the control
    await _landed(bot, "9.15")
    assert [c["comment"] for c in _comments(sandboxes, ticket_id)[before:]] == [
        "in the ticket's thread"
    ]


async def test_backend_comments_reach_the_thread_once_and_ours_never_echo(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    root, ticket_id = await _epixel_ticket(bot, agent, sandboxes)
    ref = f"epixel:{ticket_id}"
    await remember_thread(bot.services, TEAM, "C0ALERTS", "5.5", ref, (TEAM, "U0AGENT"))
    await agent.reply(root, "We are on it", ts="9.16")
    await _landed(bot, "9.16")
    sandboxes.epixel._add_conversation(ticket_id, "vendor@example.com", "Refund <b>done</b>", None)

    # What the watcher does: read the ticket with someone's account, hand over new comments.
    creds = await bot.services.store.load_credentials(TEAM, "U0AGENT", "epixel")
    assert creds is not None
    ticket = await bot.services.backends.for_credentials(creds).get_ticket(str(ticket_id))
    ours = next(c for c in ticket.comments if c.body == "We are on it")
    theirs = next(c for c in ticket.comments if c.author == "vendor@example.com")
    client = bot.app.client
    posts = len(bot.slack.calls_to("chat.postMessage"))
    account = account_key(creds)
    # The same ticket number in another account has no thread here.
    assert await post_backend_comment(bot.services, client, ref, theirs, "elsewhere") == 0

    assert await post_backend_comment(bot.services, client, ref, ours, account) == 0  # no echo
    assert await post_backend_comment(bot.services, client, ref, theirs, account) == 2
    assert await post_backend_comment(bot.services, client, ref, theirs, account) == 0  # once
    posted = bot.slack.calls_to("chat.postMessage")[posts:]
    assert sorted((p["channel"], p["thread_ts"]) for p in posted) == [
        ("C0ALERTS", "5.5"),
        ("C0GENERAL", root),
    ]
    assert "Refund &lt;b&gt;done&lt;/b&gt;" in posted[0]["text"]
    assert "vendor@example.com commented in Epixel" in json.dumps(posted[0]["blocks"])


async def test_a_backend_comment_slack_failed_to_post_goes_out_on_the_next_call(
    bot: BotUnderTest,
) -> None:
    ref = "epixel:777"
    # Linked by someone with no Epixel account: the link's account is "" (unknown).
    await remember_thread(bot.services, TEAM, "C0ALERTS", "5.5", ref, (TEAM, "U0NOBODY"))
    comment = Comment(id="c1", body="Refund done", author="vendor@example.com")
    bot.slack.fail("chat.postMessage", "internal_error", times=1)
    post = post_backend_comment
    assert await post(bot.services, bot.app.client, ref, comment, "") == 0
    assert await post(bot.services, bot.app.client, ref, comment, "") == 1
    assert await post(bot.services, bot.app.client, ref, comment, "") == 0  # once
    (posted,) = [p for p in bot.slack.calls_to("chat.postMessage") if p.get("thread_ts") == "5.5"]
    assert "Refund done" in posted["text"]


async def test_a_comment_from_a_ticket_without_threads_posts_nothing(
    bot: BotUnderTest,
) -> None:
    comment = Comment(id="1", body="hello", author="someone")
    assert await post_backend_comment(bot.services, bot.app.client, "epixel:999", comment, "") == 0
    assert bot.slack.calls_to("chat.postMessage") == []
