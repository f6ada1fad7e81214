"""`ticketbot migrate-store --from <data dir>` copies an embedded store into PostgreSQL."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from bot.config import Settings
from bot.store import open_embedded, open_postgres
from bot.subscriptions import Alert, Subscription
from bot.tickets import Actor
from bot.watches import TicketSeen, Watch, WatchPrefs
from tests.store.test_contract import QP, detractor, job, spool
from tests.test_cli import _env


async def _migrate(tmp_path: Path, env: dict[str, str], *extra: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "migrate-store",
        "--from",
        str(tmp_path / "data"),
        *extra,
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return out.decode().strip()


async def test_everything_is_copied_once_and_readable_in_postgres(
    tmp_path: Path, store_settings: Settings, secret_key: str, pg_url: str
) -> None:
    source = open_embedded(store_settings)
    sub = Subscription(team_id="T1", channel_id="C1", subscriber="U1")
    shown = Alert(subscription_id=sub.id, detractor=detractor(1), channel_id="C1", state="open")
    importing = job(state="importing")
    watched = Watch(ref="omnidesk:5", team_id="T1", scope="T1", user_id="U1")
    seen = TicketSeen(ref="omnidesk:5", fields={"status": "Open"})
    prefs = WatchPrefs(watch_created=False, quiet="19:00-08:00", tz="Europe/Berlin")
    try:
        await source.store.save_credentials("T1", "U1", QP)
        await source.alerts.save(sub)
        await source.alerts.record([shown])
        await source.alerts.mark_seen(sub.id, [2])
        await spool(source, importing.id, 3)
        await source.imports.save(importing)
        assert source.watches is not None
        await source.watches.add_watch(watched)
        await source.watches.save_seen(seen)
        await source.watches.save_prefs("T1", "U1", prefs)
    finally:
        await source.aclose()

    env = _env(tmp_path, TICKETBOT_SECRET_KEY=secret_key, TICKETBOT_DATABASE_URL=pg_url)
    assert await _migrate(tmp_path, env) == (
        "Copied 1 credentials, 1 subscriptions, 2 ledger entries, 1 import jobs, 1 watches, "
        "1 watch settings."
    )
    again = await _migrate(tmp_path, env)
    assert again == (
        "Copied 0 credentials (1 already there), 0 subscriptions (1 already there), "
        "0 ledger entries (2 already there), 0 import jobs (1 already there), "
        "0 watches (1 already there), 0 watch settings (1 already there)."
    )

    target = open_postgres(store_settings, pg_url)
    try:
        assert await target.store.load_credentials("T1", "U1", "questionpro") == QP
        assert await target.alerts.get(sub.id) == sub
        assert await target.alerts.alert(sub.id, 1) == shown
        assert await target.alerts.open_alerts() == [shown]
        assert await target.alerts.seen(sub.id, [1, 2, 3]) == {1, 2}
        [copied] = await target.imports.for_user(Actor("T1", "U1"))
        assert copied.state == "importing"
        lines = [
            line
            for c in [c async for c in target.imports.spool_chunks(copied.id, 10)]
            for line, _ in c
        ]
        assert lines == [2, 3, 4]
        assert target.watches is not None
        assert await target.watches.watchers("omnidesk:5") == [watched]
        assert await target.watches.seen("omnidesk:5", "") == seen
        assert await target.watches.prefs("T1", "U1") == prefs
    finally:
        await target.aclose()
