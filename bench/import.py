"""Validate and import a 100,000-row CSV into the QuestionPro sandbox (in its own process).

Validation: rows per second of bot.importer.check_file beside the floor of csv.reader alone
parsing the same bytes (decoded the same way) in the same run, and its peak memory beside the
memory of the same contacts held as Python objects. Import: ticketbot's chunked import
(run_import: the QuestionPro client, retries, the limiter, the job record) beside the floor of
posting the same pre-built chunks with raw httpx, alternating over three rounds.
Targets: validation within 10x of the bare parse (rates differ from machine to machine; their
ratio much less); import within 1.2x of the floor; validation's peak memory well under the rows
held as objects.

    .venv/bin/python -m bench.import
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import tempfile
import time
import tracemalloc
from datetime import date
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

from bench.common import median, start_process
from bot.backends.questionpro import QuestionProBackend
from bot.backends.registry import Backends
from bot.config import Settings
from bot.credentials import QuestionProCredentials
from bot.import_jobs import ImportJob, run_import
from bot.importer import check_file, read_chunks
from bot.sandbox.questionpro import DEMO_API_KEY
from bot.store import Store, parse_keys
from bot.store.embedded_imports import EmbeddedImportJobs

ROWS, CHUNK, ROUNDS = 100_000, 1000, 3


def make_csv() -> bytes:
    lines = [
        "firstName,lastName,email,mobile,transactionDate,custom1,product1Name,product1Group,"
        "product1PCustom1,product2Name,product2Group"
    ]
    lines += [
        f"First{i},Last{i},user{i}@example.com,+1555{i:07d},14/01/2020,tier {i % 5},"
        f"60 inch TV,LG,SKU{i},Soundbar,Sony"
        for i in range(ROWS)
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


async def main() -> None:
    data = make_csv()
    work = Path(tempfile.mkdtemp())
    spool = work / "spool.jsonl"

    def validate() -> float:
        with spool.open("w", encoding="utf-8") as out:
            started = time.perf_counter()
            checked = check_file(data, "big.csv", "S1", date(2026, 11, 20), out, io.StringIO())
            seconds = time.perf_counter() - started
        assert checked.valid == ROWS, checked
        return ROWS / seconds

    def parse() -> float:
        started = time.perf_counter()
        stream = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline="")
        rows = sum(1 for _row in csv.reader(stream)) - 1
        seconds = time.perf_counter() - started
        assert rows == ROWS
        return ROWS / seconds

    parses, rates = [], []
    for _ in range(ROUNDS):  # alternating, so both see the same machine
        parses.append(parse())
        rates.append(validate())
    tracemalloc.start()
    validate()
    validation_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    tracemalloc.start()
    held = [json.loads(line.partition("\t")[2]) for line in spool.open(encoding="utf-8")]
    held_size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del held

    sandbox = await start_process(
        ["-m", "bot", "sandbox", "--port", "0"],
        {},
        r"TICKETBOT_QUESTIONPRO_BASE_URL=http://127.0.0.1:(\d+)/",
    )
    root = f"http://127.0.0.1:{sandbox.port}"
    async with httpx.AsyncClient() as http:
        await http.post(f"{root}/_sandbox/questionpro", json={"calls_per_minute": 10**9})
    settings = Settings(
        data_dir=work,
        questionpro_base_url=f"{root}/a/api/v2/",
        questionpro_calls_per_minute=10**9,
        backend_allowlist="127.0.0.1",  # the sandbox is on loopback, refused by default
        _env_file=None,
    )
    store = Store(settings.store_file, parse_keys(Fernet.generate_key().decode()))
    jobs, backends = EmbeddedImportJobs(store, work), Backends(settings)
    client = backends.for_credentials(QuestionProCredentials(api_key=DEMO_API_KEY))
    assert isinstance(client, QuestionProBackend)
    bodies = [
        json.dumps({"contacts": [json.loads(encoded) for _line, encoded in chunk]}).encode()
        for chunk in read_chunks(spool, CHUNK)
    ]
    raw = httpx.AsyncClient(timeout=60)

    async def floor() -> float:
        started = time.perf_counter()
        for body in bodies:
            response = await raw.post(
                f"{root}/a/api/v2/cx/transactions/import",
                content=body,
                headers={"api-key": DEMO_API_KEY, "Content-Type": "application/json"},
            )
            assert response.status_code == 200
        return ROWS / (time.perf_counter() - started)

    async def ticketbot() -> float:
        job = ImportJob(
            team_id="T",
            user_id="U",
            file_name="big.csv",
            segment_code="S1",
            valid=ROWS,
            chunk_size=CHUNK,
        )
        os.link(spool, jobs.spool(job.id))

        async def progress(_job: ImportJob, _final: bool) -> None:
            return None

        started = time.perf_counter()
        done = await run_import(jobs, job, client, progress)
        seconds = time.perf_counter() - started
        assert done.imported == ROWS, done.outcome
        return ROWS / seconds

    imports: dict[str, list[float]] = {"floor (raw httpx)": [], "ticketbot import": []}
    try:
        for _ in range(ROUNDS):
            imports["floor (raw httpx)"].append(await floor())
            imports["ticketbot import"].append(await ticketbot())
    finally:
        await raw.aclose()
        await backends.aclose()
        jobs.close()
        store.close()
        await sandbox.stop()

    print(f"{ROWS:,}-row CSV ({len(data) / 1024 / 1024:.1f} MiB), {ROUNDS} rounds (median)")
    print(f"bare csv.reader parse: {median(parses):,.0f} rows/s")
    print(f"validation: {median(rates):,.0f} rows/s")
    print(f"validation takes {median(parses) / median(rates):.1f}x the bare parse (target < 10x)")
    print(
        f"validation peak memory: {validation_peak / 1024 / 1024:.1f} MiB, beside "
        f"{held_size / 1024 / 1024:.1f} MiB for the same contacts held as Python objects"
    )
    for name, values in imports.items():
        print(f"{name:18} {median(values):10,.0f} rows/s")
    ratio = median(imports["floor (raw httpx)"]) / median(imports["ticketbot import"])
    print(f"import time ratio ticketbot/floor: {ratio:.2f}x (target <= 1.2x), chunks of {CHUNK}")


if __name__ == "__main__":
    asyncio.run(main())
