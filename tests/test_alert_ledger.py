"""The alert ledger at rest: no detractor's email, phone or comment in plain text on disk, old
plain ledgers rewritten on start without losing what was already alerted, key rotation."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from pydantic import SecretStr

from bot.__main__ import rotate_key
from bot.alerts import DetractorPoller
from bot.config import Settings
from bot.ids import Action
from bot.models import Detractor
from bot.runtime import build_services
from bot.sandbox.run import Sandboxes
from bot.store import open_table
from bot.subscriptions import Alert, Subscription
from tests import test_alerts
from tests.harness import BotUnderTest, SlackUser
from tests.test_alerts import CHANNEL, alerts_posted, subscribed, ticket_ids

# The fixtures of test_alerts: a connected CX lead in the channel, and a poller.
cx = test_alerts.cx
poller = test_alerts.poller
NOTE = "Called Mrs Example back on her mobile, refunded."


def on_disk(settings: Settings) -> bytes:
    """Every byte sqlite keeps for the store: the file, its write-ahead log and shared memory."""
    path = settings.store_file
    parts = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
    return b"".join(p.read_bytes() for p in parts if p.exists())


def personal_data(sandboxes: Sandboxes) -> set[str]:
    """Every email, phone and comment the QuestionPro sandbox holds."""
    found = set()
    for d in sandboxes.questionpro.detractors:
        found |= {d["emailAddress"], d["comment"]} | ({d["phoneNumber"]} - {""})
    return found


def leaked(settings: Settings, sandboxes: Sandboxes) -> list[str]:
    raw = on_disk(settings)
    return sorted(s for s in personal_data(sandboxes) | {NOTE} if s.encode() in raw)


def vendor_detractor(raw: dict[str, Any]) -> Detractor:
    return Detractor(
        ticket_id=raw["ticketID"],
        response_id=raw["responseID"],
        email=raw["emailAddress"],
        phone=raw["phoneNumber"],
        rating=raw["rating"],
        comment=raw["comment"],
        created_at=datetime.strptime(raw["timestamp"], "%Y-%m-%dT%H:%M:%S.%f%z"),
        timelimit_hours=raw["timelimit"],
    )


async def one_alert_then_stop(
    bot: BotUnderTest, cx: SlackUser, poller: DetractorPoller, sandboxes: Sandboxes
) -> tuple[Subscription, dict[str, Any]]:
    """Subscribe, alert one new detractor, stop the bot; returns the subscription and it."""
    sub = await subscribed(bot, cx, poller)
    (raw,) = sandboxes.questionpro.add_detractors(1)
    await poller.poll(sub.id)
    await bot.stop()
    return sub, raw


async def test_the_store_file_holds_no_detractor_email_phone_or_comment(
    bot: BotUnderTest,
    cx: SlackUser,
    poller: DetractorPoller,
    sandboxes: Sandboxes,
    settings: Settings,
) -> None:
    sub = await subscribed(bot, cx, poller)  # the baseline: 40 existing detractors
    new = sandboxes.questionpro.add_detractors(3)  # one of three has a phone number
    await poller.poll(sub.id)
    digest = sandboxes.questionpro.add_detractors(12)  # a digest, listed in its thread
    await poller.poll(sub.id)
    # What nothing will redraw is kept as a bare id: the baseline, and a digest once listed.
    baseline = sandboxes.questionpro.detractors[-1]["ticketID"]
    for ticket in (baseline, digest[0]["ticketID"]):
        assert await bot.services.alerts.seen(sub.id, [ticket]) == {ticket}
        assert await bot.services.alerts.alert(sub.id, ticket) is None
    value = f"{sub.id}:{new[0]['ticketID']}"
    agent = bot.user("U0AGENT", CHANNEL)
    await agent.click(Action.ALERT_CLAIM, value)
    claimed = (await bot.slack.wait_for("chat.update"))[-1]
    await agent.click(Action.ALERT_RESOLVE, value)
    form = (await bot.slack.wait_for("views.open"))[-1]["view"]
    await agent.submit(form, {"note": NOTE})
    resolved = (await bot.slack.wait_for("chat.update", count=2))[-1]

    # The clicks still redrew the alert with everything it shows ...
    assert new[0]["emailAddress"] in json.dumps(claimed["blocks"])
    assert NOTE in json.dumps(resolved["blocks"], ensure_ascii=False)
    assert any(d["phoneNumber"] for d in new)
    # ... and yet none of it is readable on disk.
    assert leaked(settings, sandboxes) == []


async def test_a_plain_ledger_from_before_is_encrypted_on_start_and_still_dedupes(
    bot: BotUnderTest,
    cx: SlackUser,
    poller: DetractorPoller,
    sandboxes: Sandboxes,
    settings: Settings,
) -> None:
    sub, alerted = await one_alert_then_stop(bot, cx, poller, sandboxes)
    ts = alerts_posted(bot)[0]["_ts"]

    # Rewrite the ledger as releases before this one wrote it: every detractor in plain JSON.
    ledger = open_table(settings.store_file, "ledger")
    for raw in sandboxes.questionpro.detractors:
        was_alerted = raw is alerted
        ledger[f"{sub.id}:{raw['ticketID']}"] = Alert(
            subscription_id=sub.id,
            detractor=vendor_detractor(raw),
            channel_id=CHANNEL,
            ts=ts if was_alerted else None,
            state="open" if was_alerted else "seen",
        ).model_dump(mode="json")
    if "format" in ledger:
        del ledger["format"]  # the mark of an encrypted ledger
    ledger.commit()
    ledger.close()
    assert alerted["emailAddress"].encode() in on_disk(settings)  # the old, plain form

    restarted = await BotUnderTest(bot.slack, settings, build_services(settings)).start()
    try:
        assert leaked(settings, sandboxes) == []
        again = DetractorPoller(restarted.services, restarted.app.client)
        await again.poll(sub.id)
        assert ticket_ids(alerts_posted(bot)) == [alerted["ticketID"]]  # nothing alerted twice
        await restarted.user("U0AGENT", CHANNEL).click(
            Action.ALERT_CLAIM, f"{sub.id}:{alerted['ticketID']}"
        )
        redrawn = (await bot.slack.wait_for("chat.update"))[-1]
        assert alerted["emailAddress"] in json.dumps(redrawn["blocks"])  # kept, encrypted
        (fresh,) = sandboxes.questionpro.add_detractors(1)
        await again.poll(sub.id)
        assert ticket_ids(alerts_posted(bot)) == [alerted["ticketID"], fresh["ticketID"]]
    finally:
        await restarted.stop()


async def test_rotate_key_reencrypts_the_ledger_too(
    bot: BotUnderTest,
    cx: SlackUser,
    poller: DetractorPoller,
    sandboxes: Sandboxes,
    settings: Settings,
    secret_key: str,
) -> None:
    sub, raw = await one_alert_then_stop(bot, cx, poller, sandboxes)

    new_key = Fernet.generate_key().decode()
    await rotate_key(
        settings.model_copy(update={"secret_key": SecretStr(f"{new_key},{secret_key}")})
    )

    only_new = settings.model_copy(update={"secret_key": SecretStr(new_key)})
    services = build_services(only_new)
    try:
        alert = await services.alerts.alert(sub.id, raw["ticketID"])
    finally:
        await services.aclose()
    assert alert is not None and alert.detractor.email == raw["emailAddress"]
