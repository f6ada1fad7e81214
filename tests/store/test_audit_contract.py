"""The audit log facet behaves the same on the embedded store and on PostgreSQL."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta

from bot.audit import AuditLine, AuditQuery
from bot.store import Stores

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _line(user: str, minutes_ago: int, **more) -> AuditLine:
    return AuditLine(
        at=NOW - timedelta(minutes=minutes_ago),
        scope=more.pop("scope", "T1"),
        user_id=user,
        kind=more.pop("kind", "status"),
        origin=more.pop("origin", "command"),
        outcome=more.pop("outcome", "done"),
        team_id="T1",
        **more,
    )


async def _seed(stores: Stores) -> None:
    assert stores.audit is not None
    await stores.audit.append(
        _line("U1", 5, backend="omnidesk", refs=("omnidesk:1",), new={"status": "Closed"})
    )
    await stores.audit.append(
        _line("U2", 4, backend="epixel", refs=("epixel:7", "epixel:8"), kind="priority")
    )
    await stores.audit.append(_line("U1", 3, kind="claim", backend="questionpro"))
    await stores.audit.append(
        _line("U1", 60 * 24 * 10, backend="omnidesk", refs=("omnidesk:1",), kind="comment")
    )
    await stores.audit.append(_line("U1", 2, scope="T2", kind="connect", backend="omnidesk"))


async def test_lines_come_back_whole_newest_first_with_their_ids(stores: Stores) -> None:
    assert stores.audit is not None
    line = _line(
        "U1",
        1,
        backend="omnidesk",
        refs=("omnidesk:1",),
        new={"status": "Closed"},
        old={"status": "Open"},
        detail="",
        sealed="gAAAA-token",
    )
    await stores.audit.append(line)
    await stores.audit.append(_line("U1", 0, kind="delete", outcome="refused", detail="No"))
    [newest, first] = await stores.audit.query(AuditQuery(scope="T1", user_id="U1"))
    assert newest.kind == "delete" and newest.outcome == "refused" and newest.detail == "No"
    assert first.id is not None and newest.id is not None and newest.id != first.id
    assert first == AuditLine(**{**line.__dict__, "id": first.id})


async def test_queries_select_by_person_backend_ref_kind_and_time(stores: Stores) -> None:
    assert stores.audit is not None
    await _seed(stores)
    audit = stores.audit

    async def kinds(**query) -> list[str]:
        return [line.kind for line in await audit.query(AuditQuery(**query))]

    week = NOW - timedelta(days=7)
    assert await kinds(scope="T1", user_id="U1") == ["claim", "status", "comment"]
    assert await kinds(scope="T1", user_id="U1", since=week) == ["claim", "status"]
    assert await kinds(scope="T1") == ["claim", "priority", "status", "comment"]
    assert await kinds(scope="T1", backend="epixel") == ["priority"]
    assert await kinds(scope="T1", ref="omnidesk:1") == ["status", "comment"]
    assert await kinds(scope="T1", ref="epixel:8") == ["priority"]
    assert await kinds(kinds=("claim", "connect"), since=week) == ["connect", "claim"]
    until = NOW - timedelta(minutes=3)  # exclusive: the claim at 3 minutes is not before it
    assert await kinds(scope="T1", until=until) == ["priority", "status", "comment"]
    assert await kinds(scope="T1", limit=2, offset=1) == ["priority", "status"]


async def test_prune_removes_only_lines_older_than_the_cut(stores: Stores) -> None:
    assert stores.audit is not None
    await _seed(stores)
    gone = await stores.audit.prune(NOW - timedelta(days=7))
    assert gone == 1
    assert [line.kind for line in await stores.audit.query(AuditQuery(ref="omnidesk:1"))] == [
        "status"
    ]
    assert len(await stores.audit.query(AuditQuery())) == 4


async def test_lines_persist_and_their_sealed_values_follow_a_key_rotation(
    open_any, secret_key: str
) -> None:
    from cryptography.fernet import Fernet

    stores = await open_any()
    assert stores.audit is not None
    token = stores.store.seal({"comment_start": "Hello"})
    await stores.audit.append(_line("U1", 1, sealed=token, kind="comment"))
    await stores.aclose()
    newer = Fernet.generate_key().decode()
    rotated = await open_any(f"{newer},{secret_key}")
    _credentials, rows = await rotated.rotate_keys()
    assert rows >= 1
    await rotated.aclose()
    only_new = await open_any(newer)
    assert only_new.audit is not None
    [line] = await only_new.audit.query(AuditQuery(user_id="U1"))
    assert line.sealed != token
    assert only_new.store.open_sealed(line.sealed or "") == {"comment_start": "Hello"}


async def test_the_embedded_audit_file_is_private(stores: Stores, kind: str) -> None:
    assert stores.audit is not None
    await stores.audit.append(_line("U1", 1))
    path = getattr(stores.audit, "path", None)
    if kind == "postgres":
        assert path is None  # nothing of the trail on the local disk
        return
    assert path is not None and stat.S_IMODE(os.stat(path).st_mode) == 0o600
