"""The audit trail through the user's paths: what is recorded (command, button, form; done,
refused, unknown), who may read what, the CSV export, History in Slack and retention."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime, timedelta

import httpx
import respx

from bot.audit import AuditLine, AuditQuery, prune_until
from bot.ids import Action, Callback
from bot.sandbox.run import Sandboxes
from tests.harness import TEAM, BotUnderTest, SlackUser
from tests.waiting import eventually


def _status_line(user_id: str, at: datetime, **more) -> AuditLine:
    return AuditLine(
        at=at, scope=TEAM, user_id=user_id, kind="status", origin="command", outcome="done", **more
    )


async def _said(bot: BotUnderTest, count: int) -> dict:
    return (await bot.slack.wait_for("response_url", count=count))[count - 1]


def _text(message: dict) -> str:
    return "\n".join(
        str((block.get("text") or {}).get("text", ""))
        + " ".join(str(e.get("text", "")) for e in block.get("elements", []))
        for block in message.get("blocks", [])
    )


async def _lines(bot: BotUnderTest, count: int, **query) -> list[AuditLine]:
    """The audit lines once there are ``count`` of them (they are written after the change)."""
    audit = bot.services.audit
    assert audit is not None

    async def enough() -> list[AuditLine] | None:
        lines = await audit.query(AuditQuery(**query))
        return lines if len(lines) >= count else None

    return await eventually(enough, what=f"{count} audit line(s)")


async def test_changes_by_command_button_and_form_are_listed_with_origin_and_outcome(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    first = next(iter(sandboxes.omnidesk.tickets))
    mine = next(t for t in sandboxes.epixel.tickets.values() if t["_owner"] == "agent@example.com")
    await agent.command(f"status omnidesk:{first} closed")
    await _said(bot, 1)
    await agent.click(Action.TICKET_DELETE, "omnidesk:999999")  # no such ticket: refused
    await _said(bot, 2)
    await agent.command(f"show epixel:{mine['id']}")
    await _said(bot, 3)
    await agent.click(Action.TICKET_COMMENT, f"epixel:{mine['id']}")
    modal = (await bot.slack.wait_for("views.open"))[-1]["view"]
    assert modal["callback_id"] == Callback.COMMENT
    words = "Refund sent to the customer's card " + "x" * 200
    await agent.submit(modal, {"comment": words})
    lines = await _lines(bot, 3, user_id=agent.user_id)

    comment, delete, status = lines
    assert (status.kind, status.origin, status.outcome) == ("status", "command", "done")
    assert status.refs == (f"omnidesk:{first}",) and status.new == {"status": "Closed"}
    assert (delete.kind, delete.origin, delete.outcome) == ("delete", "button", "refused")
    assert delete.detail  # the backend's own words
    assert (comment.kind, comment.origin) == ("comment", "form")
    assert comment.new == {"comment_length": len(words)}  # the start is sealed, not plain
    assert bot.services.store.open_sealed(comment.sealed or "") == {"comment_start": words[:80]}
    # At rest: neither the start nor the whole comment in the audit file.
    raw = (bot.settings.data_dir / "audit.sqlite").read_bytes()
    assert b"Refund sent" not in raw

    await agent.command("audit")
    listing = _text(await _said(bot, 5))
    assert f"*status* `omnidesk:{first}` · status: Closed" in listing
    assert "*delete* `omnidesk:999999`" in listing and "refused" in listing
    assert f"comment_start: {words[:80]}" in listing and words not in listing


async def test_a_comment_whose_answer_was_lost_is_recorded_as_unknown(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    mine = next(t for t in sandboxes.epixel.tickets.values() if t["_owner"] == "agent@example.com")
    ticket, base = mine["id"], sandboxes.epixel.base_url
    with respx.mock(assert_all_called=False) as mock:
        # The comment is sent and its answer lost; everything else goes through for real.
        mock.route(method="POST", url__startswith=base).mock(
            side_effect=httpx.ReadTimeout("answer lost")
        )
        mock.route().pass_through()
        await agent.command(f"comment epixel:{ticket} Any news?")
        answer = await _said(bot, 1)
    assert "not sent again" in answer["text"]
    [line] = await _lines(bot, 1, kinds=("comment",))
    assert line.outcome == "unknown" and line.refs == (f"epixel:{ticket}",)


async def test_connect_disconnect_and_subscribe_are_recorded(
    bot: BotUnderTest, agent: SlackUser, manager: SlackUser
) -> None:
    await agent.command("disconnect ispcrm")
    await manager.command("subscribe detractors segment:999")
    await bot.slack.wait_for("chat.postMessage")
    disconnect = (await _lines(bot, 1, user_id=agent.user_id))[0]
    assert (disconnect.kind, disconnect.backend, disconnect.origin) == (
        "disconnect",
        "ispcrm",
        "command",
    )
    [subscribe] = await _lines(bot, 1, user_id=manager.user_id)
    assert subscribe.kind == "subscribe" and subscribe.new["channel"] == manager.channel_id


async def test_people_read_their_own_admins_and_the_audit_group_read_everyones(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    ticket = next(iter(sandboxes.omnidesk.tickets))
    await agent.command(f"status omnidesk:{ticket} closed")
    await _lines(bot, 1)
    # As Slack sends a mention typed into a command declared with should_escape: false.
    named = "@" + bot.slack.users["U0AGENT"]["name"]

    other = bot.user("U0OTHER")
    await other.command("audit")
    assert "Nothing recorded" in _text(await _said(bot, 2))  # their own: none
    await other.command(f"audit {named}")
    assert "only workspace admins" in (await _said(bot, 3))["text"]

    bot.slack.admins.add("U0ADMIN")
    await bot.user("U0ADMIN").command(f"audit {named}")
    assert f"`omnidesk:{ticket}`" in _text(await _said(bot, 4))

    bot.settings.audit_group = "support-leads"
    bot.slack.add_usergroup("support-leads", ["U0LEAD"])
    lead = bot.user("U0LEAD")
    await lead.command("audit everyone since:7d")
    assert f"`omnidesk:{ticket}`" in _text(await _said(bot, 5))
    await lead.command("audit <@U0AGENT|agent> omnidesk")
    assert f"`omnidesk:{ticket}`" in _text(await _said(bot, 6))
    methods = {call.method for call in bot.slack.calls}
    assert {"usergroups.list", "usergroups.users.list", "users.list"} <= methods


async def test_older_pages_through_the_selection(bot: BotUnderTest, agent: SlackUser) -> None:
    assert bot.services.audit is not None
    now = datetime.now(UTC)
    await bot.services.audit.append_many(
        _status_line(agent.user_id, now - timedelta(minutes=i), refs=(f"omnidesk:{i}",))
        for i in range(60)
    )
    await agent.command("audit")
    first = await _said(bot, 1)
    assert "`omnidesk:0`" in _text(first) and "`omnidesk:50`" not in _text(first)
    await agent.click(Action.AUDIT_OLDER)
    second = await _said(bot, 2)
    assert second["replace_original"] is True
    assert "`omnidesk:59`" in _text(second) and "`omnidesk:0`" not in _text(second)


async def test_export_sends_the_selection_as_csv_to_the_askers_dm(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    ticket = next(iter(sandboxes.omnidesk.tickets))
    await agent.command(f"priority omnidesk:{ticket} high")
    await _lines(bot, 1)
    await agent.command("audit export omnidesk")
    [complete] = await bot.slack.wait_for("files.completeUploadExternal")
    assert complete["channel_id"] == "D0AGENT"
    [content] = bot.slack.uploads.values()
    rows = list(csv.DictReader(io.StringIO(content.decode())))
    assert len(rows) == 1
    assert rows[0]["user"] == "U0AGENT" and rows[0]["kind"] == "priority"
    assert rows[0]["tickets"] == f"omnidesk:{ticket}" and rows[0]["outcome"] == "done"
    assert rows[0]["origin"] == "command" and rows[0]["changed"] == "priority: High"


async def test_history_in_slack_shows_that_tickets_lines_only(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    first, second = list(sandboxes.omnidesk.tickets)[:2]
    await agent.command(f"status omnidesk:{first} closed")
    await agent.command(f"status omnidesk:{second} closed")
    await _lines(bot, 2)
    await agent.command(f"show omnidesk:{first}")
    shown = await _said(bot, 3)
    await agent.click(Action.TICKET_MORE, f"history|omnidesk:{first}", blocks=shown["blocks"])
    history = _text(await _said(bot, 4))
    assert f"`omnidesk:{first}`" in history and f"omnidesk:{second}" not in history


async def test_history_of_a_forged_ref_the_clicker_cannot_read_is_refused(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    assert bot.services.audit is not None
    forged = "omnidesk:999999"
    assert "999999" not in {str(t) for t in sandboxes.omnidesk.tickets}
    await bot.services.audit.append(
        _status_line("U0OTHER", datetime.now(UTC), refs=(forged,), new={"status": "closed"})
    )
    real = next(iter(sandboxes.omnidesk.tickets))
    await agent.command(f"show omnidesk:{real}")
    shown = await _said(bot, 1)
    # The menu of a real ticket message, with a value the clicker edited.
    await agent.click(Action.TICKET_MORE, f"history|{forged}", blocks=shown["blocks"])
    refused = await _said(bot, 2)
    assert refused["text"].startswith(
        f"`{forged}` was not found in Omnidesk, or your account cannot see it; its history is "
        "not shown."
    )
    assert "U0OTHER" not in json.dumps(refused)
    # The control: the real ticket's lines are shown (test_history_in_slack_shows_… as well).
    await bot.services.audit.append(
        _status_line("U0OTHER", datetime.now(UTC), refs=(f"omnidesk:{real}",))
    )
    await agent.click(Action.TICKET_MORE, f"history|omnidesk:{real}", blocks=shown["blocks"])
    assert "U0OTHER" in json.dumps(await _said(bot, 3))


async def test_retention_prunes_lines_older_than_the_setting(
    bot: BotUnderTest, agent: SlackUser
) -> None:
    audit = bot.services.audit
    assert audit is not None
    now = datetime.now(UTC)
    for days in (400, 3):
        await audit.append(
            _status_line(agent.user_id, now - timedelta(days=days), new={"days": days})
        )
    stop = asyncio.Event()
    stop.set()  # one pass (the one at start), then return
    await prune_until(audit, timedelta(days=365), stop)
    assert [line.new for line in await audit.query(AuditQuery())] == [{"days": 3}]
