"""`/ticket import`: a CSV of transactions checked row by row, previewed, then sent to QuestionPro
in chunks with progress in the user's DM, a Retry for rejected chunks, and a history."""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.backends.base import Capability
from bot.backends.questionpro import QuestionProBackend
from bot.backends.questionpro_contacts import transaction_date_text
from bot.blocks import as_dicts
from bot.blocks.forms import done_modal, loading_modal, metadata
from bot.blocks.help import Usage
from bot.blocks.imports import (
    history_blocks,
    import_modal,
    preview_blocks,
    progress_text,
    report_blocks,
)
from bot.errors import BotError, UserInputError
from bot.ids import Action, Callback
from bot.import_csv import ImportFileError
from bot.import_jobs import ImportJob, run_import
from bot.importer import TEMPLATE, check_file
from bot.services import Services
from bot.tickets import backend_for, require
from handlers.common import actor_of, send_file_to_dm, tell_user, view_values
from handlers.common import metadata as read_metadata
from handlers.errors import guarded
from handlers.invocation import Invocation, Subcommand

log = logging.getLogger("ticketbot.imports")


async def expire_old_imports(services: Services) -> None:
    """Forget spooled contacts no import needs any more (run on import use and periodically)."""
    keep = timedelta(hours=services.settings.import_keep_hours)
    await services.imports.expire(keep, services.running_imports)


async def _import(inv: Invocation) -> None:
    what = inv.args[0].lower() if inv.args else ""
    await expire_old_imports(inv.services)
    if what == "template":
        await send_file_to_dm(
            inv.client,
            inv.user_id,
            TEMPLATE,
            "questionpro-import-template.csv",
            "An example import file: one contact per row, products as numbered column groups.",
        )
        await inv.say(":page_facing_up: I sent you an example CSV in a direct message.")
        return
    if what == "history":
        jobs = await inv.services.imports.for_user(inv.actor)
        resumable = {j.id for j in jobs if j.resumable(inv.services.running_imports)}
        await inv.say(f"{len(jobs)} import(s)", as_dicts(history_blocks(jobs, resumable)))
        return
    if what:
        raise UserInputError(
            "Use `/ticket import`, `/ticket import template` or `/ticket import history`."
        )
    backend = await backend_for(inv.services.store, inv.services.backends, inv.actor, "questionpro")
    require(backend, Capability.IMPORT_TRANSACTIONS, "importing transactions")
    await inv.client.views_open(
        trigger_id=inv.body["trigger_id"],
        view=import_modal(
            metadata(channel_id=inv.body.get("channel_id")),
            max_mib=inv.services.settings.import_max_bytes / 1024 / 1024,
        ),
    )


SUBCOMMANDS: dict[str, Subcommand] = {
    "import": Subcommand(
        Usage(
            "/ticket import [template|history]",
            "Import transactions (contacts) into QuestionPro from a CSV.",
            "/ticket import",
        ),
        _import,
    ),
}


def _form_errors(values: dict[str, Any], services: Services) -> dict[str, str]:
    errors = {}
    if not (values.get("segment_code") or "").strip():
        errors["segment_code"] = "Give the segment code the contacts belong to."
    files, text = values.get("file") or [], (values.get("text") or "").strip()
    if files and text:
        errors["text"] = "Give either a file or pasted text, not both."
    elif not files and not text:
        errors["file"] = "Attach a CSV file, or paste the CSV below."
    for file in files:
        try:
            services.files.check_size(file, services.settings.import_max_bytes)
        except BotError as exc:
            errors["file"] = exc.user_message()
    return errors


async def submit(ack: AsyncAck, body: dict, client: AsyncWebClient, services: Services) -> None:
    """Check the form in the ack; check the file after it; preview; send nothing yet."""
    view = body["view"]
    values, meta = view_values(view), read_metadata(view)
    errors = _form_errors(values, services)
    if errors:
        await ack(response_action="errors", errors=errors)
        return
    await ack(
        response_action="update",
        view=loading_modal("Import transactions", "Checking every row…", Callback.IMPORT),
    )
    actor = actor_of(body)
    user_id = actor.user_id
    files = values.get("file") or []
    job = ImportJob(
        team_id=actor.teams[0] if actor.teams else actor.scope,
        scope=actor.scope,
        user_id=user_id,
        channel_id=meta.get("channel_id"),
        file_name=files[0].get("name", "upload.csv") if files else "pasted text",
        segment_code=values["segment_code"].strip(),
        chunk_size=services.settings.import_chunk_size,
    )
    try:
        data = (
            (await services.files.download(files[0], services.settings.import_max_bytes)).content
            if files
            else values["text"].encode("utf-8")
        )
        checked, invalid_csv = await asyncio.to_thread(_check, services, job, data, values)
    except (ImportFileError, UserInputError) as exc:
        await services.imports.discard_spool(job.id)  # the rows read before the file was refused
        kept = {
            "segment_code": values.get("segment_code"),
            "text": values.get("text"),
            "transaction_date": values.get("transaction_date"),
        }
        await client.views_update(
            view_id=view["id"],
            view=import_modal(
                view["private_metadata"],
                values=kept,
                notice=f":warning: {exc.user_message()}",
                max_mib=services.settings.import_max_bytes / 1024 / 1024,
            ),
        )
        return
    job.encoding, job.rows, job.valid, job.invalid = (
        checked.encoding,
        checked.rows,
        checked.valid,
        checked.invalid,
    )
    await services.imports.keep_spool(job.id)
    await services.imports.save(job)
    await client.views_update(
        view_id=view["id"],
        view=done_modal(
            "Import transactions",
            f"Checked {checked.rows:,} row(s): {checked.valid:,} ready, "
            f"{checked.invalid:,} with problems. The preview is in Slack now.",
        ),
    )
    await tell_user(
        client,
        user_id,
        f"{checked.valid} of {checked.rows} rows are ready to import",
        channel_id=job.channel_id,
        blocks=preview_blocks(job, checked, _sent_date(services, values)),
    )
    if checked.invalid:
        await send_file_to_dm(
            client,
            user_id,
            invalid_csv,
            f"{job.id}-problems.csv",
            f"All {checked.invalid:,} rows of {job.file_name} with problems, "
            "with the reasons in the second column.",
        )


def _sent_date(services: Services, values: dict[str, Any]) -> tuple[date, str]:
    picked = date.fromisoformat(values.get("transaction_date") or date.today().isoformat())
    return picked, transaction_date_text(picked, services.settings.questionpro_date_format)


def _check(
    services: Services, job: ImportJob, data: bytes, values: dict[str, Any]
) -> tuple[Any, str]:
    # CPU-bound (csv parsing, regexes): off the event loop so acks keep flowing meanwhile.
    invalid = io.StringIO()
    picked = date.fromisoformat(values.get("transaction_date") or date.today().isoformat())
    with services.imports.open_spool(job.id) as spool:
        checked = check_file(
            data,
            job.file_name,
            job.segment_code,
            picked,
            spool,
            invalid,
            date_format=services.settings.questionpro_date_format,
        )
    return checked, invalid.getvalue()


# How long an import's lease outlives its instance (renewed every third of it while sending).
IMPORT_LEASE_SECONDS = 30.0


async def _job(services: Services, body: dict, *, state: str | None) -> ImportJob:
    job = await services.imports.get(body["actions"][0]["value"])
    if job is None or job.owner != actor_of(body):
        raise UserInputError("That import is not yours, or no longer exists.")
    if state is not None and job.state != state:
        raise UserInputError(f"That import is already {job.outcome}.")
    return job


async def _send(
    services: Services,
    client: AsyncWebClient,
    job: ImportJob,
    only: set[int] | None,
    prepare: Callable[[ImportJob], None],
) -> None:
    """Send ``job`` under its lease. ``prepare`` checks (raising UserInputError) and readies the
    job as reloaded once the lease is held: another instance may have sent it between the read
    that showed the button's job and the claim, so only the reloaded job is trusted."""
    backend = await backend_for(services.store, services.backends, job.owner, "questionpro")
    assert isinstance(backend, QuestionProBackend)
    require(backend, Capability.IMPORT_TRANSACTIONS, "importing transactions")
    # One instance sends a job at a time; the lease lapses if it dies, and then another may
    # send the rest (its "sending" chunks become "unknown", never resent).
    lease, me = f"import:{job.id}", services.instance_id
    if not await services.work.claim(lease, me, IMPORT_LEASE_SECONDS):
        raise UserInputError(
            "That import is being sent right now (its progress is in your DM with me). If the "
            f"bot stopped while sending it, try again in {IMPORT_LEASE_SECONDS:.0f} seconds."
        )
    try:
        fresh = await services.imports.get(job.id)
        if fresh is None:
            raise UserInputError("That import is not yours, or no longer exists.")
        prepare(fresh)
    except BaseException:
        await services.work.release(lease, me)
        raise
    renewing = asyncio.create_task(_keep_lease(services, lease))
    try:
        await _send_held(services, client, fresh, only, backend)
    finally:
        renewing.cancel()
        await services.work.release(lease, me)


async def _keep_lease(services: Services, lease: str) -> None:
    while True:
        await asyncio.sleep(IMPORT_LEASE_SECONDS / 3)
        if not await services.work.claim(lease, services.instance_id, IMPORT_LEASE_SECONDS):
            log.warning("lost the lease on %s", lease)


async def _send_held(
    services: Services,
    client: AsyncWebClient,
    job: ImportJob,
    only: set[int] | None,
    backend: QuestionProBackend,
) -> None:
    if job.progress_ts is None:
        dm = await client.chat_postMessage(channel=job.user_id, text=progress_text(job))
        job.progress_channel, job.progress_ts = str(dm["channel"]), str(dm["ts"])
    last = 0.0

    async def progress(current: ImportJob, final: bool) -> None:
        nonlocal last
        if not final and time.monotonic() - last < services.settings.progress_interval:
            return
        last = time.monotonic()
        blocks = as_dicts(report_blocks(current)) if final else None
        await client.chat_update(
            channel=current.progress_channel,
            ts=current.progress_ts,
            text=progress_text(current) if not final else "Import finished",
            blocks=blocks,
        )

    services.running_imports.add(job.id)
    try:
        await run_import(services.imports, job, backend, progress, only, services.changes)
    finally:
        services.running_imports.discard(job.id)


async def confirm(
    ack: AsyncAck, body: dict, respond: AsyncRespond, client: AsyncWebClient, services: Services
) -> None:
    await ack()
    job = await _job(services, body, state="checked")
    await respond(
        replace_original=True,
        text=f":arrows_counterclockwise: Importing {job.valid:,} "
        "contacts; progress is in your DM with me.",
    )
    await _send(services, client, job, None, _still_checked)


def _still_checked(job: ImportJob) -> None:
    if job.state != "checked":
        raise UserInputError(f"That import is already {job.outcome}.")


async def retry(ack: AsyncAck, body: dict, client: AsyncWebClient, services: Services) -> None:
    """Send what is left: chunks QuestionPro rejected, and after a restart those never sent.
    Chunks whose outcome is unknown are never resent; nor is a job that is still running."""
    await ack()
    job = await _job(services, body, state=None)

    def resend_failed(job: ImportJob) -> None:
        if not job.resumable(services.running_imports):
            raise UserInputError(
                "Nothing of that import is waiting to be sent (or it is still running)."
            )
        for chunk in job.chunks:
            if chunk.status == "failed":
                chunk.status, chunk.message = "pending", ""

    resend_failed(job)  # refused before the lease too, so a second click says so at once
    await _send(services, client, job, None, resend_failed)


async def cancel(ack: AsyncAck, body: dict, respond: AsyncRespond, services: Services) -> None:
    await ack()
    job = await _job(services, body, state="checked")
    job.state = "cancelled"
    await services.imports.save(job)
    await services.imports.discard_spool(job.id)
    await respond(replace_original=True, text="Import cancelled; nothing was sent to QuestionPro.")


def register(app: AsyncApp) -> None:
    """Wire the import form and its buttons onto ``app``."""
    app.view(Callback.IMPORT)(guarded(submit))
    app.action(Action.IMPORT_CONFIRM)(guarded(confirm))
    app.action(Action.IMPORT_RETRY)(guarded(retry))
    app.action(Action.IMPORT_CANCEL)(guarded(cancel))
