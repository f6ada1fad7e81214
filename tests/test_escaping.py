"""Hostile text from users and backends never reaches Slack live (issue 10, item 4).

The sandboxes' data (subjects, comments, customer names, tag and category names, attachment
names, detractor comments) and what a user types are filled with ``<!channel>``, ``<!here>``,
``<@U0EVIL>`` and a disguised link; the real app is driven through every surface, and then every
field Slack would parse as mrkdwn in everything the Slack stand-in recorded (messages, updates,
ephemerals, response_url posts, modals, file comments, acks) is walked: none may hold one of
those sequences raw. Each step also waits until its escaped form arrived, so a surface that
silently showed nothing cannot pass.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Iterator
from typing import Any

import httpx
import pytest

from bot.alerts import DetractorPoller
from bot.credentials import OmnideskCredentials, QuestionProCredentials
from bot.ids import Action, Callback
from bot.sandbox import omnidesk, questionpro
from bot.sandbox.run import Sandboxes
from tests.harness import TEAM, BotUnderTest, SlackUser
from tests.waiting import eventually

HOSTILE = "<!channel> <!here> <@U0EVIL> <https://evil.example|Open in QuestionPro>"
LIVE = ("<!channel", "<!here", "<@U0EVIL", "<https://evil")
SEEN = "&lt;!channel&gt;"  # how the hostile text looks once escaped
CHANNEL = "C0CX"

# Keys whose strings Slack shows as typed (or never shows): not parsed as mrkdwn.
_NOT_PARSED = {"private_metadata", "value", "initial_value", "action_id", "block_id", "url"}


def parsed_texts(value: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """(path, text) of every string in a recorded payload that Slack parses as mrkdwn: a
    message's ``text``, a file's ``initial_comment``, and every text object not plain_text."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield from parsed_texts(item, f"{where}[{index}]")
    elif isinstance(value, dict):
        if value.get("type") == "plain_text":
            return
        for key, item in value.items():
            if key in _NOT_PARSED:
                continue
            if key in {"text", "initial_comment"} and isinstance(item, str):
                yield f"{where}.{key}", item
            else:
                yield from parsed_texts(item, f"{where}.{key}")


def live_sequences(payloads: list[tuple[str, Any]]) -> list[str]:
    """Where a hostile sequence sits unescaped, as ``method path: text``."""
    return [
        f"{method} {path}: {text[:160]}"
        for method, payload in payloads
        for path, text in parsed_texts(payload)
        if any(seq in text for seq in LIVE)
    ]


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


class Surfaces:
    """Drives one step at a time and keeps what Slack got, acks included."""

    def __init__(self, bot: BotUnderTest) -> None:
        self.bot = bot
        self.acks: list[tuple[str, Any]] = []

    async def step(
        self, what: str, action: Awaitable[httpx.Response], seen: str = SEEN
    ) -> list[dict]:
        """Run ``action``; wait until ``seen`` (an escaped form) reached Slack; returns the
        payloads recorded meanwhile."""
        since = len(self.bot.slack.calls)
        response = await action
        if response.content:
            with contextlib.suppress(ValueError):  # an empty ack or plain text
                self.acks.append((f"ack of {what}", response.json()))

        def shown() -> tuple[list] | None:  # a tuple: the calls may be none (shown in the ack)
            new = [c.args for c in self.bot.slack.calls[since:]]
            return (new,) if seen in _dump(new) or seen in _dump(self.acks[-1:]) else None

        (calls,) = await eventually(shown, what=f"{what} showing {seen!r}")
        return calls

    async def message_with(self, action_id_prefix: str) -> dict:
        """The newest response_url payload with a button whose action_id starts so (waits)."""

        def found() -> dict | None:
            for payload in reversed(self.bot.slack.calls_to("response_url")):
                if any(a.startswith(action_id_prefix) for a in _buttons(payload)):
                    return payload
            return None

        return await eventually(found, what=f"a message with a {action_id_prefix} button")

    async def posted(self, needle: str) -> None:
        """Wait until a chat.postMessage whose text holds ``needle`` was recorded."""
        await eventually(
            lambda: any(
                needle in str(c.get("text")) for c in self.bot.slack.calls_to("chat.postMessage")
            ),
            what=f"a post of {needle!r}",
        )

    def assert_nothing_live(self) -> None:
        recorded = [(c.method, c.args) for c in self.bot.slack.calls]
        assert recorded, "nothing was recorded"
        offenders = live_sequences(recorded + self.acks)
        assert not offenders, "reached Slack unescaped:\n" + "\n".join(offenders)


def _buttons(payload: dict) -> dict[str, dict]:
    found = {}
    for block in payload.get("blocks") or []:
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            found[element["action_id"]] = element
        if block.get("accessory"):
            found.setdefault(block["accessory"]["action_id"], block["accessory"])
    return found


def _poison_ticket_backends(sandboxes: Sandboxes) -> None:
    epixel = sandboxes.epixel
    for ticket in epixel.tickets.values():
        ticket["subject"] = f"{HOSTILE} {ticket['subject']}"
    for conversation in epixel.conversations:
        conversation["comment"] = f"{HOSTILE} said the customer"
    for tag in epixel.tags:
        tag["tag"] = f"{tag['tag']} {HOSTILE}"
    for category in epixel.categories:
        category["category"] = f"{HOSTILE} {category['category']}"
    for attachment in epixel.attachments.values():
        attachment["name"] = f"{HOSTILE}.txt"
    for ticket in sandboxes.omnidesk.tickets.values():
        ticket["title"] = f"{HOSTILE} {ticket['title']}"
        ticket["fromName"] = HOSTILE
    for tickets in sandboxes.ispcrm.tickets.values():
        for ticket in tickets:
            ticket["subject"] = f"{HOSTILE} {ticket['subject']}"


async def test_hostile_ticket_text_never_reaches_slack_live(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    _poison_ticket_backends(sandboxes)
    epixel_id = next(
        a["ticket"]
        for a in sandboxes.epixel.attachments.values()
        if sandboxes.epixel.tickets[a["ticket"]]["_owner"] == "agent@example.com"
    )
    omnidesk_id = next(iter(sandboxes.omnidesk.tickets))
    s = Surfaces(bot)

    await s.step("list", agent.command("list"))
    listed = await s.message_with(Action.TICKET_SHOW)
    await s.step("list, Open button", agent.click(Action.TICKET_SHOW, _refs(listed)[0]))
    await s.step("show", agent.command(f"show epixel:{epixel_id}"))
    shown = await s.message_with(f"{Action.TICKET_SHOW}.attachment")
    attachment = next(
        b for a, b in _buttons(shown).items() if a.startswith(f"{Action.TICKET_SHOW}.attachment")
    )
    await s.step("attachment echo", agent.click(attachment["action_id"], attachment["value"]))
    await s.step("tag echo", agent.command(f"tag epixel:{epixel_id} vip"))
    await s.step("rename echo", agent.command(f"rename omnidesk:{omnidesk_id} {HOSTILE}"))
    await s.step("show with Delete", agent.command(f"show omnidesk:{omnidesk_id}"))
    omni = await s.message_with(Action.TICKET_DELETE)
    assert SEEN in _dump(_buttons(omni)[Action.TICKET_DELETE]["confirm"]["text"])
    await s.step("delete preview", agent.command(f"delete omnidesk:{omnidesk_id}"))

    # Errors that echo what was typed, or what a backend said about it.
    for typed, seen in [
        ("<!channel>", SEEN),  # not a subcommand: answered in the ack
        ("show <!channel>", SEEN),
        ("show epixel:<!here>", "&lt;!here&gt;"),
        ("list <@U0EVIL>", "&lt;@U0EVIL&gt;"),
        (f"status omnidesk:{omnidesk_id} <!here>", "&lt;!here&gt;"),
        (f"batch omnidesk:{omnidesk_id} <!channel>", SEEN),
        (f"tag epixel:{epixel_id} <@U0EVIL>", "&lt;@U0EVIL&gt;"),
        ("subscribe detractors <https://evil.example|x>", "&lt;https://evil.example|x&gt;"),
    ]:
        await s.step(f"/ticket {typed}", agent.command(typed), seen)

    s.assert_nothing_live()


def _refs(message: dict) -> list[str]:
    return [
        b["accessory"]["value"]
        for b in message.get("blocks", [])
        if b.get("accessory", {}).get("action_id") == Action.TICKET_SHOW
    ]


@pytest.fixture
async def cx(bot: BotUnderTest) -> SlackUser:
    await bot.services.store.save_credentials(
        TEAM, "U0CX", QuestionProCredentials(datacenter="eu", api_key=questionpro.DEMO_API_KEY)
    )
    return bot.user("U0CX", CHANNEL)


async def _subscribe(bot: BotUnderTest, cx: SlackUser, poller: DetractorPoller) -> str:
    await cx.command("subscribe detractors segment:999 mode:each")
    subs = await eventually(lambda: bot.services.alerts.for_channel(TEAM, CHANNEL))
    await poller.poll(subs[0].id)  # the baseline: one summary with "Show them"
    return subs[0].id


def _poison(detractors: list[dict]) -> list[dict]:
    for d in detractors:
        d["comment"] = f"{HOSTILE} worst service"
    return detractors


async def test_hostile_detractor_text_never_reaches_slack_live(
    bot: BotUnderTest, cx: SlackUser, sandboxes: Sandboxes
) -> None:
    qp = sandboxes.questionpro
    _poison(qp.detractors)
    poller = DetractorPoller(bot.services, bot.app.client)
    sub_id = await _subscribe(bot, cx, poller)
    s = Surfaces(bot)

    await s.step(
        "Show them (the existing ones, in the thread)",
        cx.click(Action.ALERTS_SHOW_EXISTING, sub_id, message_ts="1700000002.000100"),
    )
    (raw,) = _poison(qp.add_detractors(1))
    since = len(bot.slack.calls)
    await poller.poll(sub_id)
    alert = bot.slack.calls[since:]
    assert SEEN in _dump([c.args for c in alert])  # the alert itself, text and blocks
    since = len(bot.slack.calls)
    _poison(qp.add_detractors(12))
    await poller.poll(sub_id)
    assert SEEN in _dump([c.args for c in bot.slack.calls[since:]])  # the digest's list

    value = f"{sub_id}:{raw['ticketID']}"
    escalator = bot.user("U0ESC", CHANNEL)
    await bot.services.store.save_credentials(
        TEAM,
        "U0ESC",
        OmnideskCredentials(base_url=sandboxes.omnidesk.base_url, api_key=omnidesk.FULL_KEY),
    )
    await s.step("claim redraws the alert", escalator.click(Action.ALERT_CLAIM, value))
    await s.posted("<@U0ESC> claimed this.")
    views_before = len(bot.slack.calls_to("views.open"))
    await escalator.click(Action.ALERT_ESCALATE, value)
    form = (await bot.slack.wait_for("views.open", count=views_before + 1))[-1]["view"]
    await s.step(
        "escalate: done modal and the new-ticket announcement",
        escalator.submit(
            form,
            {"title": f"Detractor: {raw['comment']}", "from": raw["emailAddress"]},
        ),
    )
    await s.posted("<@U0ESC> escalated this")
    await s.step("Resolve form", escalator.click(Action.ALERT_RESOLVE, value))
    resolve = bot.slack.calls_to("views.open")[-1]["view"]
    assert resolve["callback_id"] == Callback.RESOLVE
    await s.step("Resolve note", escalator.submit(resolve, {"note": HOSTILE}))
    await s.posted("<@U0ESC> resolved this")
    announced = [
        c for c in bot.slack.calls_to("chat.postMessage") if "created `omnidesk:" in str(c["text"])
    ]
    assert announced and SEEN in announced[0]["text"]

    s.assert_nothing_live()


def test_the_walker_finds_what_slack_would_parse() -> None:
    """The walker itself: mrkdwn and message text are checked, plain_text and values are not."""
    payload = {
        "text": "<!here>",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "<!channel>"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "ok <@U0EVIL>"}},
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "<!channel>"},
                        "value": "<!channel>",
                        "confirm": {"text": {"type": "mrkdwn", "text": "<https://evil.example>"}},
                    }
                ],
            },
        ],
    }
    found = live_sequences([("chat.postMessage", payload)])
    assert [f.split(":")[0] for f in found] == [
        "chat.postMessage .text",
        "chat.postMessage .blocks[1].text.text",
        "chat.postMessage .blocks[2].elements[0].confirm.text.text",
    ]
