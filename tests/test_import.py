"""QuestionPro transactions import from Slack: check, preview, import in chunks, retry, history."""

from __future__ import annotations

import json

import pytest

from bot.ids import Action, Callback
from bot.import_jobs import Chunk
from bot.importer import TEMPLATE
from bot.sandbox.run import Sandboxes
from tests.harness import BotUnderTest, SlackUser

HEADER = (
    "firstName,lastName,email,mobile,transactionDate,custom1,custom2,"
    "product1Name,product1Group,product1PCustom1,product2Name"
)
BAD = {
    5: ("not-an-email", "+15550000005", "14/01/2020"),
    11: ("row11@example.com", "12345", "14/01/2020"),
    20: ("row20@example.com", "+15550000020", "31/02/2026"),
}


def csv_rows(count: int, bad: dict[int, tuple[str, str, str]] | None = None) -> bytes:
    """``count`` data rows (file lines 2…count+1); ``bad`` replaces email/mobile/date by line."""
    lines = [HEADER]
    for line in range(2, count + 2):
        email, mobile, when = (bad or {}).get(
            line, (f"row{line}@example.com", f"+1555{line:07d}", "")
        )
        lines.append(
            f"First{line},Last{line},{email},{mobile},{when},Gold,North,"
            f"60 inch TV,LG,MS-{line},Soundbar"
        )
    return ("\r\n".join(lines) + "\r\n").encode()


async def check(
    bot: BotUnderTest,
    user: SlackUser,
    content: bytes | None = None,
    *,
    name: str = "transactions.csv",
    text: str | None = None,
) -> dict:
    """Open the import form, submit the file (or text), return the form's final state."""
    await user.command("import")
    form = (await bot.slack.wait_for("views.open"))[-1]["view"]
    assert form["callback_id"] == Callback.IMPORT
    files = [bot.slack.add_file(name, content, "text/csv")] if content is not None else []
    submitted = await user.submit(
        form, {"segment_code": "S1", "transaction_date": "2026-11-20", "file": files, "text": text}
    )
    assert submitted.json()["response_action"] == "update"
    updates = await bot.slack.wait_for("views.update")
    return updates[-1]["view"]


def button(message: dict, action_id: str) -> dict:
    return next(
        e
        for b in message["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == action_id
    )


async def test_25_rows_with_3_bad_preview_then_import_exactly_the_22(
    bot: BotUnderTest, manager: SlackUser, sandboxes: Sandboxes
) -> None:
    done = await check(bot, manager, csv_rows(25, BAD))
    assert "Checked 25 row(s): 22 ready, 3 with problems" in json.dumps(done["blocks"])
    preview = (await bot.slack.wait_for("chat.postEphemeral"))[-1]
    text = json.dumps(preview["blocks"], ensure_ascii=False)
    assert "*22 contact(s) ready to import*, 3 row(s) with problems" in text
    assert "line 5: “not-an-email” is not an email address" in text
    assert "line 11: mobile “12345” is not in international format" in text
    assert "line 20: transactionDate “31/02/2026” is not a real date" in text
    assert text.count("• line") == 3
    assert sandboxes.questionpro.requests_to("transactions/import") == []  # nothing sent yet
    await bot.slack.wait_for("files.completeUploadExternal")
    problems = next(iter(bot.slack.uploads.values())).decode()
    assert problems.splitlines()[0].startswith("line,problems,firstName")
    assert len(problems.strip().splitlines()) == 4

    confirm = button(preview, Action.IMPORT_CONFIRM)
    await manager.click(confirm["action_id"], confirm["value"])
    final = (await bot.slack.wait_for("chat.update", count=2))[-1]
    assert "imported 22 of 22 contacts into segment S1" in json.dumps(final["blocks"])
    sent = sandboxes.questionpro.imported
    assert len(sent) == 22 and {c["email"] for c in sent}.isdisjoint({"not-an-email"})
    assert not bot.services.imports.spool(confirm["value"]).exists()  # contacts' data is gone
    first = sent[0]
    assert first == {
        "firstName": "First2",
        "lastName": "Last2",
        "mobile": "+15550000002",
        "segmentCode": "S1",
        "transactionDate": "20/11/2026",
        "email": "row2@example.com",
        "custom1": "Gold",
        "custom2": "North",
        "products": [
            {"productName": "60 inch TV", "productGroup": "LG", "pCustom1": "MS-2"},
            {"productName": "Soundbar", "productGroup": ""},
        ],
    }


async def test_10000_rows_go_in_chunks_with_progress_after_each(
    bot: BotUnderTest, manager: SlackUser, sandboxes: Sandboxes
) -> None:
    await check(bot, manager, csv_rows(10_000))
    preview = (await bot.slack.wait_for("chat.postEphemeral"))[-1]
    confirm = button(preview, Action.IMPORT_CONFIRM)
    await manager.click(confirm["action_id"], confirm["value"])
    updates = await bot.slack.wait_for("chat.update", count=11, within=30)
    progress = [u["text"] for u in updates[:10]]
    assert progress[2].endswith("3,000 of 10,000 contacts sent…")
    assert "imported 10,000 of 10,000 contacts" in json.dumps(updates[10]["blocks"])
    assert len(sandboxes.questionpro.requests_to("transactions/import")) == 10
    assert len(sandboxes.questionpro.imported) == 10_000


async def test_a_rejected_chunk_is_reported_and_retry_sends_only_it(
    bot: BotUnderTest, manager: SlackUser, sandboxes: Sandboxes
) -> None:
    await check(bot, manager, csv_rows(2_500))
    faults = sandboxes.questionpro.faults
    faults.status, faults.status_times, faults.path = 500, 1, "transactions/import"
    preview = (await bot.slack.wait_for("chat.postEphemeral"))[-1]
    await manager.click(Action.IMPORT_CONFIRM, button(preview, Action.IMPORT_CONFIRM)["value"])
    report = (await bot.slack.wait_for("chat.update", count=4))[-1]
    text = json.dumps(report["blocks"], ensure_ascii=False)
    assert "imported 1,500 of 2,500 contacts" in text
    assert "lines 2–1001 (1,000) rejected by QuestionPro: Simulated failure" in text
    retry = button(report, Action.IMPORT_RETRY)
    assert bot.services.imports.spool(retry["value"]).exists()  # kept for the Retry
    await manager.click(retry["action_id"], retry["value"])
    again = (await bot.slack.wait_for("chat.update", count=6))[-1]
    assert "imported 2,500 of 2,500 contacts" in json.dumps(again["blocks"])
    assert len(sandboxes.questionpro.requests_to("transactions/import")) == 4  # 3 + the retry
    assert len(sandboxes.questionpro.imported) == 2_500  # none twice
    assert not bot.services.imports.spool(retry["value"]).exists()


async def test_a_chunk_whose_answer_is_lost_is_not_resent_blindly(
    bot: BotUnderTest, manager: SlackUser, sandboxes: Sandboxes
) -> None:
    bot.services.settings.http_read_timeout = 0.3  # the QuestionPro client is made on first use
    await check(bot, manager, csv_rows(10))
    faults = sandboxes.questionpro.faults
    faults.latency, faults.path = 1.0, "transactions/import"
    preview = (await bot.slack.wait_for("chat.postEphemeral"))[-1]
    await manager.click(Action.IMPORT_CONFIRM, button(preview, Action.IMPORT_CONFIRM)["value"])
    report = (await bot.slack.wait_for("chat.update", count=2, within=10))[-1]
    text = json.dumps(report["blocks"], ensure_ascii=False)
    assert (
        "no answer after sending" in text and "Check QuestionPro before sending them again" in text
    )
    assert Action.IMPORT_RETRY not in text
    assert len(sandboxes.questionpro.requests_to("transactions/import")) == 1


async def test_a_semicolon_windows_1252_file_is_read_and_said_so(
    bot: BotUnderTest, manager: SlackUser, sandboxes: Sandboxes
) -> None:
    content = "Vorname;Nachname;E-Mail\r\nJosé;Müller;jose@example.com\r\n"
    content = content.replace("Vorname;Nachname;E-Mail", "first name;last_name;E-mail")
    await check(bot, manager, content.encode("cp1252"), name="export.csv")
    preview = (await bot.slack.wait_for("chat.postEphemeral"))[-1]
    text = json.dumps(preview["blocks"], ensure_ascii=False)
    assert "Read as Windows-1252 (cp1252)" in text and "separated by semicolons" in text
    await manager.click(Action.IMPORT_CONFIRM, button(preview, Action.IMPORT_CONFIRM)["value"])
    await bot.slack.wait_for("chat.update", count=2)
    assert sandboxes.questionpro.imported[0]["lastName"] == "Müller"


@pytest.mark.parametrize(
    ("content", "name", "said"),
    [
        (b"", "empty.csv", "The file is empty."),
        (
            b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
            "photo.csv",
            "is not a CSV file (it looks like a PNG image)",
        ),
        (b"name,phone\r\nAnn,+15551234567\r\n", "contacts.csv", "The file has no email column."),
        (b"email,shoe size\r\na@example.com,42\r\n", "x.csv", "Unknown column(s): “shoe size”"),
    ],
)
async def test_files_that_cannot_be_used_get_a_clear_message_and_nothing_is_sent(
    bot: BotUnderTest,
    manager: SlackUser,
    sandboxes: Sandboxes,
    content: bytes,
    name: str,
    said: str,
) -> None:
    form = await check(bot, manager, content, name=name)
    notice = next(b for b in form["blocks"] if b.get("block_id") == "notice")
    assert said in notice["text"]["text"]
    assert (
        next(b for b in form["blocks"] if b.get("block_id") == "segment_code")["element"][
            "initial_value"
        ]
        == "S1"
    )  # what was typed is kept
    assert sandboxes.questionpro.requests_to("transactions/import") == []
    assert bot.slack.calls_to("chat.postEphemeral") == []
    assert list(bot.services.imports.dir.iterdir()) == []  # no rows read before it was refused


async def test_pasted_text_template_and_history(
    bot: BotUnderTest, manager: SlackUser, sandboxes: Sandboxes
) -> None:
    await manager.command("import template")
    await bot.slack.wait_for("response_url")
    assert list(bot.slack.uploads.values()) == [TEMPLATE.encode()]
    await check(bot, manager, None, text=TEMPLATE)
    preview = (await bot.slack.wait_for("chat.postEphemeral"))[-1]
    await manager.click(Action.IMPORT_CONFIRM, button(preview, Action.IMPORT_CONFIRM)["value"])
    await bot.slack.wait_for("chat.update", count=2)
    assert [c["email"] for c in sandboxes.questionpro.imported] == [
        "first@example.com",
        "second@example.com",
    ]
    await manager.command("import history")
    history = (await bot.slack.wait_for("response_url", count=3))[-1]
    assert "*pasted text*: 2 rows, 2 valid, 2 imported (imported)" in json.dumps(history["blocks"])


async def test_the_form_needs_a_segment_and_one_source(
    bot: BotUnderTest, manager: SlackUser
) -> None:
    await manager.command("import")
    form = (await bot.slack.wait_for("views.open"))[-1]["view"]
    response = await manager.submit(form, {"segment_code": " ", "file": [], "text": ""})
    assert response.json() == {
        "response_action": "errors",
        "errors": {
            "segment_code": "Give the segment code the contacts belong to.",
            "file": "Attach a CSV file, or paste the CSV below.",
        },
    }


async def test_an_import_interrupted_by_a_restart_can_send_the_rest(
    bot: BotUnderTest, manager: SlackUser, sandboxes: Sandboxes
) -> None:
    await check(bot, manager, csv_rows(2_500))
    preview = (await bot.slack.wait_for("chat.postEphemeral"))[-1]
    job_id = button(preview, Action.IMPORT_CONFIRM)["value"]
    # The process died after the first chunk: the record says so, the rest was never sent.
    job = await bot.services.imports.get(job_id)
    assert job is not None
    job.state = "importing"
    job.chunks = [
        Chunk(index=0, first_line=2, last_line=1001, rows=1000, status="ok", imported=1000)
    ]
    await bot.services.imports.save(job)
    sandboxes.questionpro.imported.extend({"email": f"already{i}"} for i in range(1000))

    await manager.command("import history")
    history = (await bot.slack.wait_for("response_url", count=1))[-1]
    resume = next(b["accessory"] for b in history["blocks"] if b.get("accessory"))
    assert resume["text"]["text"] == "Send the rest" and resume["value"] == job_id
    await manager.click(resume["action_id"], resume["value"])
    report = (await bot.slack.wait_for("chat.update", count=3))[-1]
    assert "imported 2,500 of 2,500 contacts" in json.dumps(report["blocks"])
    assert len(sandboxes.questionpro.requests_to("transactions/import")) == 2  # chunks 2 and 3
    assert len(sandboxes.questionpro.imported) == 2_500


@pytest.mark.parametrize(
    ("content", "sent"),
    [
        ("email\r\nann@example.com\r\n", {}),
        ("email,firstName\r\nann@example.com,Ann\r\n", {"firstName": "Ann"}),
        ("lastName,email\r\nLee,ann@example.com\r\n", {"lastName": "Lee"}),
    ],
    ids=["email only", "no lastName", "no firstName"],
)
async def test_a_file_of_emails_only_or_without_names_imports(
    bot: BotUnderTest, manager: SlackUser, sandboxes: Sandboxes, content: str, sent: dict
) -> None:
    await check(bot, manager, content.encode())
    preview = (await bot.slack.wait_for("chat.postEphemeral"))[-1]
    assert "*1 contact(s) ready to import*, 0 row(s)" in json.dumps(preview["blocks"])
    await manager.click(Action.IMPORT_CONFIRM, button(preview, Action.IMPORT_CONFIRM)["value"])
    final = (await bot.slack.wait_for("chat.update", count=2))[-1]
    assert "imported 1 of 1 contacts" in json.dumps(final["blocks"])
    assert sandboxes.questionpro.imported == [
        {"email": "ann@example.com", "segmentCode": "S1", "transactionDate": "20/11/2026", **sent}
    ]
