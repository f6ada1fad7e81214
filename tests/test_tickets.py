"""A support agent's paths through tickets: list, show, comment, status, priority, tags, delete."""

from __future__ import annotations

import json

from bot.ids import Action, Callback
from bot.sandbox.run import Sandboxes
from tests.harness import BotUnderTest, SlackUser


def _dump(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


async def _said(bot: BotUnderTest, count: int) -> dict:
    """The ``count``-th thing the bot sent to a response_url."""
    return (await bot.slack.wait_for("response_url", count=count))[count - 1]


def _refs(message: dict) -> list[str]:
    return [
        b["accessory"]["value"]
        for b in message.get("blocks", [])
        if b.get("accessory", {}).get("action_id") == Action.TICKET_SHOW
    ]


def _buttons(message: dict) -> dict[str, dict]:
    found = {}
    for block in message.get("blocks", []):
        for element in block.get("elements", []) if block["type"] == "actions" else []:
            found[element["action_id"]] = element
    return found


def _mine(sandboxes: Sandboxes, status: str | None = None) -> dict:
    return next(
        t
        for t in sandboxes.epixel.tickets.values()
        if t["_owner"] == "agent@example.com" and status in (None, t["status"])
    )


async def test_list_merges_every_backend_newest_first_and_pages(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    await agent.command("list")
    first = await _said(bot, 1)
    refs = _refs(first)
    assert len(refs) == 15
    assert refs[:4] == ["ispcrm:104", "ispcrm:103", "ispcrm:101", "ispcrm:102"]  # Nov before Oct
    assert refs[4].startswith("omnidesk:")
    assert "`ISPCRM` · Open · Low priority" in _dump(first["blocks"])
    next_button = _buttons(first)[f"{Action.LIST_PAGE}.next"]

    await agent.click(next_button["action_id"], next_button["value"])
    second = await _said(bot, 2)
    assert second["replace_original"] is True
    assert "*Tickets 16–30*" in _dump(second["blocks"])
    assert not set(_refs(second)) & set(refs)
    assert f"{Action.LIST_PAGE}.prev" in _buttons(second)


async def test_list_one_backend_with_filters(bot: BotUnderTest, agent: SlackUser) -> None:
    await agent.command('list omnidesk status:open q:"order"')
    page = await _said(bot, 1)
    rows = [b["text"]["text"] for b in page["blocks"] if b.get("accessory")]
    assert rows and all("`Omnidesk` · Open ·" in r and "Order" in r for r in rows)


async def test_a_backend_that_is_down_or_slow_does_not_hide_the_others(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    sandboxes.epixel.faults.status, sandboxes.epixel.faults.status_times = 503, 100
    await agent.command("list")
    page = _dump((await _said(bot, 1))["blocks"])
    assert "Epixel support: Epixel support is not answering right now" in page
    assert "ispcrm:104" in page and "omnidesk:" in page

    sandboxes.epixel.faults.status_times = 0
    sandboxes.omnidesk.faults.latency = 2.0
    bot.services.settings.list_timeout = 0.5
    await agent.command("list")
    page = _dump((await _said(bot, 2))["blocks"])
    assert "Omnidesk: no answer within 0.5 s, left out of this list." in page
    assert "ispcrm:104" in page


async def test_show_has_the_conversation_and_the_buttons_its_backend_allows(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    ticket = _mine(sandboxes, status="1")
    await agent.command(f"show epixel:{ticket['id']}")
    shown = await _said(bot, 1)
    assert "First reply from support." in _dump(shown["blocks"])
    assert set(_buttons(shown)) >= {
        Action.TICKET_COMMENT,
        Action.TICKET_STATUS,
        Action.TICKET_PRIORITY,
        Action.TICKET_TAGS,
        Action.TICKET_CLOSE,
    }
    await agent.command("show ispcrm:101")
    read_only = await _said(bot, 2)
    assert "Internet not working" in _dump(read_only["blocks"])
    # Nothing that cannot work: watching is reading, so Watch, and the overflow menu with its
    # "History in Slack".
    assert set(_buttons(read_only)) == {Action.TICKET_WATCH, Action.TICKET_MORE}


async def test_comment_by_command_and_by_button(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    ticket = _mine(sandboxes)
    await agent.command(f"comment epixel:{ticket['id']} We have refunded you.")
    assert (await _said(bot, 1))[
        "text"
    ] == f":speech_balloon: Comment added to `epixel:{ticket['id']}`."
    assert sandboxes.epixel.conversations[-1]["comment"] == "We have refunded you."

    await agent.click(Action.TICKET_COMMENT, f"epixel:{ticket['id']}")
    modal = (await bot.slack.wait_for("views.open"))[-1]["view"]
    assert modal["callback_id"] == Callback.COMMENT
    empty = await agent.submit(modal, {"comment": "  "})
    assert empty.json() == {
        "response_action": "errors",
        "errors": {"comment": "Write a comment first."},
    }
    done = await agent.submit(modal, {"comment": "Second reply"})
    assert done.json()["response_action"] == "update"
    redrawn = await _said(bot, 2)  # the ticket message the button was on, redrawn in place
    assert redrawn["replace_original"] is True
    assert "Second reply" in _dump(redrawn["blocks"])


async def test_a_comment_mentioning_payload_is_added_like_any_other(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    # Bolt reads any form body containing "payload" as an interaction: the command got silence.
    ticket = _mine(sandboxes)
    await agent.command(f"comment epixel:{ticket['id']} The payload arrived damaged.")
    said = await _said(bot, 1)
    assert said["text"] == f":speech_balloon: Comment added to `epixel:{ticket['id']}`."
    assert sandboxes.epixel.conversations[-1]["comment"] == "The payload arrived damaged."


async def test_status_and_priority_by_command_in_bulk(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    one, two = list(sandboxes.omnidesk.tickets)[:2]
    await agent.command(f"status omnidesk:{one},{two},999999 solved")
    said = (await _said(bot, 1))["text"]
    assert f":white_check_mark: Status set to Solved: `omnidesk:{one}`, `omnidesk:{two}`" in said
    assert ":x: `omnidesk:999999`: Ticket not found" in said
    assert sandboxes.omnidesk.tickets[one]["status"] == "solved"

    await agent.command(f"priority omnidesk:{one} urgent")
    assert "Priority set to Urgent" in (await _said(bot, 2))["text"]
    assert sandboxes.omnidesk.tickets[one]["priority"] == "urgent"
    await agent.command(f"status omnidesk:{one} finished")
    assert (await _said(bot, 3))["text"] == (
        "`finished` is not a Omnidesk status. Valid values: `new`, `open`, `pending`, `holding`, "
        "`solved`, `closed`."
    )


async def test_close_button_and_priority_modal_update_the_message(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    ticket = next(t for t in sandboxes.omnidesk.tickets.values() if t["status"] == "open")
    ref = f"omnidesk:{ticket['ticketID']}"
    await agent.click(Action.TICKET_CLOSE, ref)
    redrawn = await _said(bot, 1)
    assert ticket["status"] == "solved"
    assert Action.TICKET_REOPEN in _buttons(redrawn)

    before = ticket["priority"]
    await agent.click(Action.TICKET_PRIORITY, ref)
    modal = (await bot.slack.wait_for("views.open"))[-1]["view"]
    current = (await bot.slack.wait_for("views.update"))[-1]["view"]
    select = next(b for b in current["blocks"] if b["type"] == "input")["element"]
    assert select["initial_option"]["value"] == before  # the ticket's priority, preselected
    await agent.submit(modal, {"priority": "urgent"})
    redrawn = await _said(bot, 2)
    assert ticket["priority"] == "urgent"
    assert "Urgent priority" in _dump(redrawn["blocks"])


async def test_tags_by_command_and_by_modal(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    ticket = _mine(sandboxes)
    await agent.command(f"tag epixel:{ticket['id']} vip bug")
    assert (await _said(bot, 1))["text"] == (
        f":label: Tags of `epixel:{ticket['id']}` are now: VIP, Bug."
    )
    assert ticket["tags"] == [2, 3]

    await agent.click(Action.TICKET_TAGS, f"epixel:{ticket['id']}")
    assert (await bot.slack.wait_for("views.open"))[-1]["view"]["blocks"][0]["text"][
        "text"
    ].startswith(":hourglass")
    modal = (await bot.slack.wait_for("views.update"))[-1]["view"]
    select = next(b for b in modal["blocks"] if b["type"] == "input")["element"]
    assert [o["value"] for o in select["initial_options"]] == ["2", "3"]
    options = await agent.options(Action.TAG_OPTIONS, modal, typed="ur")
    assert [o["value"] for o in options.json()["options"]] == ["1"]  # "Urgent"
    await agent.submit(modal, {"tags": ["1", "6"]})
    await _said(bot, 2)
    assert ticket["tags"] == [1, 6]


async def test_delete_asks_first_and_reports_per_ticket(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    one, two = list(sandboxes.omnidesk.tickets)[:2]
    await agent.command(f"delete omnidesk:{one},{two},999999")
    confirm = await _said(bot, 1)
    text = _dump(confirm["blocks"])
    assert "*Delete 2 ticket(s)?*" in text and "`omnidesk:999999`: not found" in text
    assert one in sandboxes.omnidesk.tickets  # nothing deleted yet
    button = _buttons(confirm)[Action.DELETE_CONFIRM]
    await agent.click(button["action_id"], button["value"])
    result = await _said(bot, 2)
    assert result["text"] == f":white_check_mark: Deleted: `omnidesk:{one}`, `omnidesk:{two}`"
    assert one not in sandboxes.omnidesk.tickets and two not in sandboxes.omnidesk.tickets


async def test_cancel_deletes_nothing(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    one = next(iter(sandboxes.omnidesk.tickets))
    await agent.command(f"delete omnidesk:{one}")
    button = _buttons(await _said(bot, 1))[Action.DELETE_CANCEL]
    await agent.click(button["action_id"], button["value"])
    assert (await _said(bot, 2))["text"] == "Nothing was deleted."
    assert one in sandboxes.omnidesk.tickets


async def test_a_user_who_has_not_connected_gets_a_connect_button(bot: BotUnderTest) -> None:
    newcomer = bot.user("U0NEW")
    await newcomer.command("list omnidesk")
    said = await _said(bot, 1)
    assert said["text"].startswith("You have not connected omnidesk yet.")
    assert _blocks_button(said, Action.CONNECT_OPEN)["value"] == "omnidesk"
    await newcomer.click(Action.CONNECT_OPEN, "omnidesk")
    assert (await bot.slack.wait_for("views.open"))[-1]["view"]["callback_id"] == Callback.CONNECT


def _blocks_button(message: dict, action_id: str) -> dict:
    return next(
        b["accessory"]
        for b in message["blocks"]
        if b.get("accessory", {}).get("action_id") == action_id
    )


async def test_wrong_refs_and_unsupported_operations(bot: BotUnderTest, agent: SlackUser) -> None:
    await agent.command("show omnidesk:abc")
    assert (await _said(bot, 1))["text"] == (
        "`abc` is not a ticket id: omnidesk ids are numbers, e.g. `omnidesk:1234`."
    )
    await agent.command("show nosuch:1")
    assert "`nosuch` is not a backend I know." in (await _said(bot, 2))["text"]
    await agent.command("delete ispcrm:101")
    assert (await _said(bot, 3))["text"] == (
        "ISPCRM does not support deleting tickets. Its tickets are read-only here."
    )
    await agent.command("show omnidesk:99999999")
    assert (await _said(bot, 4))["text"] == "Omnidesk said: Ticket not found"


async def test_an_attachment_button_sends_the_file_in_a_dm(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    attachment = next(
        a
        for a in sandboxes.epixel.attachments.values()
        if sandboxes.epixel.tickets[a["ticket"]]["_owner"] == "agent@example.com"
    )
    await agent.command(f"show epixel:{attachment['ticket']}")
    shown = await _said(bot, 1)
    button = next(v for k, v in _buttons(shown).items() if ".attachment." in k)
    await agent.click(button["action_id"], button["value"])
    assert (await _said(bot, 2))["text"] == ":paperclip: Sent notes.txt to you in a direct message."
    assert list(bot.slack.uploads.values()) == [attachment["content"]]
    completed = bot.slack.calls_to("files.completeUploadExternal")[-1]
    assert completed.get("channel_id", completed.get("channels")) == "D0AGENT"


async def test_omnidesk_rename_unlink_and_batch(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    one, two = list(sandboxes.omnidesk.tickets)[:2]
    await agent.command(f"rename omnidesk:{one} Refund for order 5521")
    assert (await _said(bot, 1))[
        "text"
    ] == f":pencil2: `omnidesk:{one}` is now titled “Refund for order 5521”."
    assert sandboxes.omnidesk.tickets[one]["title"] == "Refund for order 5521"

    await agent.command(f"unlink omnidesk:{one}")
    assert (await _said(bot, 2))[
        "text"
    ] == f":link: The customer was unlinked from `omnidesk:{one}`."
    assert sandboxes.omnidesk.tickets[one]["customerID"] is None

    await agent.command(f"batch omnidesk:{one},{two} status=holding priority=low")
    said = (await _said(bot, 3))["text"]
    assert said.startswith(":white_check_mark: Applied status → holding, priority → low:")
    assert all(sandboxes.omnidesk.tickets[i]["status"] == "holding" for i in (one, two))
    await agent.command(f"batch omnidesk:{one} holding")
    assert (await _said(bot, 4))["text"].startswith("`holding` is not an action.")


async def test_solve_unfinished_asks_first(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    await agent.command("solve-unfinished omnidesk")
    question = await _said(bot, 1)
    unfinished = [
        t
        for t in sandboxes.omnidesk.tickets.values()
        if t["status"] in {"new", "open", "pending", "holding"}
    ]
    assert unfinished  # nothing changed yet
    button = _buttons(question)[Action.SOLVE_UNFINISHED_CONFIRM]
    await agent.click(button["action_id"], button["value"])
    assert (await _said(bot, 2))["text"] == (
        f":white_check_mark: {len(unfinished)} ticket(s) marked solved in Omnidesk."
    )
    assert all(t["status"] in {"solved", "closed"} for t in sandboxes.omnidesk.tickets.values())


async def test_help_lists_every_ticket_command(bot: BotUnderTest) -> None:
    blocks = _dump((await bot.user("U1").command("help")).json()["blocks"])
    for name in (
        "list",
        "show",
        "create",
        "comment",
        "status",
        "priority",
        "tag",
        "rename",
        "batch",
        "unlink",
        "delete",
        "solve-unfinished",
    ):
        assert f"/ticket {name}" in blocks


async def test_a_modal_that_fails_after_its_ack_still_tells_the_user(
    bot: BotUnderTest, agent: SlackUser, sandboxes: Sandboxes
) -> None:
    ticket = next(iter(sandboxes.omnidesk.tickets))
    await agent.click(Action.TICKET_PRIORITY, f"omnidesk:{ticket}")
    modal = (await bot.slack.wait_for("views.open"))[-1]["view"]
    await bot.slack.wait_for("views.update")  # the current priority, preselected
    bot.slack.fail("views.update", "internal_error")
    await agent.submit(modal, {"priority": "high"})
    told = (await bot.slack.wait_for("chat.postEphemeral"))[-1]
    assert told["user"] == "U0AGENT"
    assert told["text"].startswith(":x: Something went wrong on our side (error id `")
    assert sandboxes.omnidesk.tickets[ticket]["priority"] == "high"  # the change itself was made


async def test_list_mine_keeps_the_backends_whose_lists_are_yours(
    bot: BotUnderTest, agent: SlackUser
) -> None:
    await agent.command("list mine")
    page = await _said(bot, 1)
    text = _dump(page["blocks"])
    assert "Omnidesk: `mine` is not available" in text
    refs = _refs(page)
    assert refs and all(r.startswith(("epixel:", "ispcrm:")) for r in refs)
