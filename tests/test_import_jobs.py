"""An import's buttons and its life after the send: Cancel, who may press what, what Retry and
Send the rest may send again, and the spooled contacts deleted once no button needs them."""

from __future__ import annotations

import json
import os
import time

import pytest

from bot.credentials import QuestionProCredentials
from bot.ids import Action
from bot.import_jobs import Chunk
from bot.sandbox import questionpro
from bot.sandbox.run import Sandboxes
from tests.harness import TEAM, BotUnderTest, SlackUser
from tests.test_import import button, check, csv_rows

NOT_YOURS = "That import is not yours, or no longer exists."


async def said(bot: BotUnderTest, count: int) -> str:
    """The text of the ``count``-th message sent to a response_url."""
    return (await bot.slack.wait_for("response_url", count))[count - 1]["text"]


async def final_report(bot: BotUnderTest) -> str:
    """The blocks of the first "Import finished" update, as text."""
    seen = 1
    while True:
        updates = await bot.slack.wait_for("chat.update", seen)
        done = [u for u in updates if u["text"] == "Import finished"]
        if done:
            return json.dumps(done[0]["blocks"], ensure_ascii=False)
        seen = len(updates) + 1


async def preview_of(bot: BotUnderTest, user: SlackUser, rows: int = 25) -> dict:
    await check(bot, user, csv_rows(rows))
    return (await bot.slack.wait_for("chat.postEphemeral"))[-1]


async def test_cancel_sends_nothing_deletes_the_contacts_and_import_is_refused_after(
    bot: BotUnderTest, manager: SlackUser, sandboxes: Sandboxes
) -> None:
    preview = await preview_of(bot, manager)
    job_id = button(preview, Action.IMPORT_CANCEL)["value"]
    assert bot.services.imports.spool(job_id).exists()
    await manager.click(Action.IMPORT_CANCEL, job_id)
    assert await said(bot, 1) == "Import cancelled; nothing was sent to QuestionPro."
    job = await bot.services.imports.get(job_id)
    assert job is not None and job.state == "cancelled"
    assert not bot.services.imports.spool(job_id).exists()
    await manager.click(Action.IMPORT_CONFIRM, job_id)  # the preview's other button
    assert await said(bot, 2) == "That import is already cancelled."
    assert sandboxes.questionpro.requests_to("transactions/import") == []


async def test_only_the_owner_may_import_cancel_retry_or_send_the_rest(
    bot: BotUnderTest, manager: SlackUser, sandboxes: Sandboxes
) -> None:
    await bot.services.store.save_credentials(
        TEAM, "U0OTHER", QuestionProCredentials(api_key=questionpro.DEMO_API_KEY)
    )
    other = bot.user("U0OTHER", "C0CX")
    preview = await preview_of(bot, manager)
    job_id = button(preview, Action.IMPORT_CONFIRM)["value"]
    for count, action in enumerate((Action.IMPORT_CONFIRM, Action.IMPORT_CANCEL), start=1):
        await other.click(action, job_id)
        assert await said(bot, count) == NOT_YOURS
    job = await bot.services.imports.get(job_id)
    assert job is not None and job.state == "checked"  # not cancelled, not sent
    # A job with something left to send: the owner's Retry would send it, the other's may not.
    job.state, job.chunks = "importing", []
    await bot.services.imports.save(job)
    await other.click(Action.IMPORT_RETRY, job_id)
    assert await said(bot, 3) == NOT_YOURS
    assert sandboxes.questionpro.requests_to("transactions/import") == []
    await manager.click(Action.IMPORT_RETRY, job_id)
    assert "imported 25 of 25 contacts" in await final_report(bot)
    assert len(sandboxes.questionpro.imported) == 25


@pytest.mark.parametrize("state", ["done", "importing"], ids=["retry", "send the rest"])
async def test_retry_and_send_the_rest_never_resend_a_chunk_of_unknown_outcome(
    bot: BotUnderTest, manager: SlackUser, sandboxes: Sandboxes, state: str
) -> None:
    preview = await preview_of(bot, manager, 2_500)
    job_id = button(preview, Action.IMPORT_CONFIRM)["value"]
    job = await bot.services.imports.get(job_id)
    assert job is not None
    job.state = state  # "done": rejected chunk 2; "importing": cut short before chunk 2
    job.chunks = [
        Chunk(index=0, first_line=2, last_line=1001, rows=1000, status="ok", imported=1000),
        Chunk(index=1, first_line=1002, last_line=2001, rows=1000, status="unknown"),
    ]
    if state == "done":
        job.chunks.append(
            Chunk(index=2, first_line=2002, last_line=2501, rows=500, status="failed")
        )
    await bot.services.imports.save(job)
    await manager.click(Action.IMPORT_RETRY, job_id)
    text = await final_report(bot)
    assert "imported 1,500 of 2,500 contacts" in text
    assert "lines 1002–2001 (1,000): no answer after sending" in text
    sent = sandboxes.questionpro.imported
    assert [c["email"] for c in sent] == [f"row{line}@example.com" for line in range(2002, 2502)]
    assert not bot.services.imports.spool(job_id).exists()  # nothing left that may be sent


async def test_contacts_are_deleted_when_an_import_is_abandoned_for_the_keep_time(
    bot: BotUnderTest, manager: SlackUser, sandboxes: Sandboxes
) -> None:
    preview = await preview_of(bot, manager)
    job_id = button(preview, Action.IMPORT_CONFIRM)["value"]
    imports = bot.services.imports
    orphan = imports.dir / "0123456789ab.jsonl"  # a spool whose record never got written
    orphan.write_text('2\t{"email":"a@example.com"}\n')
    fresh = imports.dir / "ba9876543210.jsonl"  # … or a check still writing its spool
    fresh.write_text("")
    keep_hours = 0.5
    old = time.time() - keep_hours * 3600 - 1
    os.utime(orphan, (old, old))
    bot.services.settings.import_keep_hours = keep_hours
    await manager.command("import history")  # well within the keep time: only the orphan goes
    history = (await bot.slack.wait_for("response_url", 1))[-1]
    assert "25 rows, 25 valid, 0 imported (checked)" in json.dumps(history["blocks"])
    assert imports.spool(job_id).exists() and orphan.exists() is False and fresh.exists()

    bot.services.settings.import_keep_hours = 1e-9  # every job is now older than that
    await manager.command("import history")
    history = (await bot.slack.wait_for("response_url", 2))[-1]
    assert "25 rows, 25 valid, 0 imported (expired)" in json.dumps(history["blocks"])
    assert not imports.spool(job_id).exists()
    await manager.click(Action.IMPORT_CONFIRM, job_id)
    assert await said(bot, 3) == "That import is already expired."
    assert sandboxes.questionpro.requests_to("transactions/import") == []


LEASED = "That import is being sent right now"


async def test_an_import_whose_lease_another_instance_holds_is_refused_and_not_sent(
    bot: BotUnderTest, manager: SlackUser, sandboxes: Sandboxes
) -> None:
    preview = await preview_of(bot, manager)
    job_id = button(preview, Action.IMPORT_CONFIRM)["value"]
    assert await bot.services.work.claim(f"import:{job_id}", "another-instance", 60)
    await manager.click(Action.IMPORT_CONFIRM, job_id)
    assert LEASED in await said(bot, 2)  # after "Importing…"
    # Prove the refusal: once the other instance lets go, the same click sends it.
    await bot.services.work.release(f"import:{job_id}", "another-instance")
    await manager.click(Action.IMPORT_CONFIRM, job_id)
    assert "imported 25 of 25 contacts" in await final_report(bot)
    assert len(sandboxes.questionpro.imported) == 25


async def test_an_import_sent_elsewhere_between_the_click_and_the_lease_is_not_sent_again(
    bot: BotUnderTest, manager: SlackUser, sandboxes: Sandboxes
) -> None:
    """The race the lease alone leaves open: this instance read the job as "checked", another
    sent it all and let go of the lease, then this one claims it. The job is read again under
    the lease, so nothing is sent twice."""
    preview = await preview_of(bot, manager)
    job_id = button(preview, Action.IMPORT_CONFIRM)["value"]
    work, claim = bot.services.work, bot.services.work.claim

    async def claim_after_another_sent_it(name: str, owner: str, ttl: float) -> bool:
        job = await bot.services.imports.get(job_id)
        assert job is not None
        job.state = "done"
        await bot.services.imports.save(job)
        return await claim(name, owner, ttl)

    work.claim = claim_after_another_sent_it  # type: ignore[method-assign]
    try:
        await manager.click(Action.IMPORT_CONFIRM, job_id)
        assert (await said(bot, 2)).startswith("That import is already ")
    finally:
        work.claim = claim  # type: ignore[method-assign]
    assert sandboxes.questionpro.requests_to("transactions/import") == []
    assert await claim(f"import:{job_id}", "another-instance", 60)  # the lease was let go
