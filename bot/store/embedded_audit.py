"""The embedded store's audit log: an indexed sqlite table in its own file, ``audit.sqlite``.

Not sqlitedict, as the rest of the embedded store: sqlitedict is a key-value table with no
secondary index, so "this person's last 7 days" would read every one of a million lines (seconds,
not the 50 ms the trail is built for). Here each line is a row with the columns a query filters
on (scope, user, backend, kind, time) indexed, and the values that vary (refs, old, new) as JSON
text, never pickle. The refs get a table of their own so that "this ticket's history" is an
index lookup too. Its own file so that a million lines never slow the credentials' file, and
0600 like the others (sealed values, but also who did what).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.audit import AuditLine, AuditQuery
from bot.store.keys import ensure_private_dir, json_encode, touch_private

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    scope TEXT NOT NULL,
    user_id TEXT NOT NULL,
    team_id TEXT NOT NULL,
    origin TEXT NOT NULL,
    kind TEXT NOT NULL,
    backend TEXT,
    refs TEXT NOT NULL,
    new TEXT NOT NULL,
    old TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL,
    sealed TEXT
);
CREATE INDEX IF NOT EXISTS audit_person ON audit (scope, user_id, at);
CREATE INDEX IF NOT EXISTS audit_scope ON audit (scope, at);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at);
CREATE INDEX IF NOT EXISTS audit_kind ON audit (kind, at);
CREATE TABLE IF NOT EXISTS audit_refs (
    ref TEXT NOT NULL,
    line_id INTEGER NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_refs_ref ON audit_refs (ref, at);
CREATE INDEX IF NOT EXISTS audit_refs_line ON audit_refs (line_id);
"""

_COLUMNS = (
    "id, at, scope, user_id, team_id, origin, kind, backend, refs, new, old, outcome, detail,"
    " sealed"
)


_INSERT = f"INSERT INTO audit ({_COLUMNS}) VALUES (NULL{', ?' * 13})"  # noqa: S608 (constants)


def where_of(query: AuditQuery, mark: Callable[[], str], at: Callable[[datetime], Any]) -> tuple:
    """The WHERE clause and its arguments for ``query`` (both stores share it): ``mark`` gives
    the next placeholder, ``at`` turns a time into the column's type."""
    clauses: list[str] = []
    args: list[Any] = []

    def add(clause: str, value: Any) -> None:
        clauses.append(clause.format(mark()))
        args.append(value)

    if query.scope is not None:
        add("scope = {}", query.scope)
    if query.user_id is not None:
        add("user_id = {}", query.user_id)
    if query.backend is not None:
        add("backend = {}", query.backend)
    if query.ref is not None:
        add("id IN (SELECT line_id FROM audit_refs WHERE ref = {})", query.ref)
    if query.since is not None:
        add("at >= {}", at(query.since))
    if query.until is not None:
        add("at < {}", at(query.until))
    if query.kinds:
        marks = ", ".join(mark() for _ in query.kinds)
        clauses.append(f"kind IN ({marks})")
        args.extend(query.kinds)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


class EmbeddedAuditLog:
    """``AuditLog`` on ``<data dir>/audit.sqlite``; calls run off the event loop, one at a time."""

    def __init__(self, data_dir: Path) -> None:
        ensure_private_dir(data_dir)
        self.path = data_dir / "audit.sqlite"
        touch_private(self.path)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL with NORMAL: a commit survives a crash of the process, only a power cut may lose
        # the last lines (the same trade sqlitedict's WAL tables make).
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    async def append(self, line: AuditLine) -> None:
        """Append one line (committed when this returns)."""
        await asyncio.to_thread(self.append_now, [line])

    async def append_many(self, lines: Iterable[AuditLine]) -> int:
        """Append lines in one transaction (copies and the benchmark); how many."""
        return await asyncio.to_thread(self.append_now, list(lines))

    def append_now(self, lines: list[AuditLine]) -> int:
        """:meth:`append_many`, on this thread."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                for line in lines:
                    self._insert(line)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return len(lines)

    def _insert(self, line: AuditLine) -> None:
        at = line.at.timestamp()
        cursor = self._db.execute(
            _INSERT,
            (
                at,
                line.scope,
                line.user_id,
                line.team_id,
                line.origin,
                line.kind,
                line.backend,
                json_encode(list(line.refs)),
                json_encode(line.new),
                json_encode(line.old),
                line.outcome,
                line.detail,
                line.sealed,
            ),
        )
        self._db.executemany(
            "INSERT INTO audit_refs (ref, line_id, at) VALUES (?, ?, ?)",
            [(ref, cursor.lastrowid, at) for ref in line.refs],
        )

    async def query(self, query: AuditQuery) -> list[AuditLine]:
        """The lines ``query`` selects, newest first."""
        return await asyncio.to_thread(self.query_now, query)

    def query_now(self, query: AuditQuery) -> list[AuditLine]:
        """:meth:`query`, on this thread."""
        where, args = where_of(query, lambda: "?", lambda t: t.timestamp())
        # ``where`` is built of constant clauses and placeholders only; values go as arguments.
        sql = f"SELECT {_COLUMNS} FROM audit{where} ORDER BY at DESC, id DESC"  # noqa: S608
        with self._lock:
            rows = self._db.execute(
                f"{sql} LIMIT ? OFFSET ?", [*args, query.limit, query.offset]
            ).fetchall()
        return [_line(row) for row in rows]

    async def prune(self, before: datetime) -> int:
        """Remove the lines older than ``before`` (retention); how many went."""

        def prune() -> int:
            cut = before.timestamp()
            with self._lock:
                self._db.execute("BEGIN")
                self._db.execute("DELETE FROM audit_refs WHERE at < ?", (cut,))
                gone = self._db.execute("DELETE FROM audit WHERE at < ?", (cut,)).rowcount
                self._db.execute("COMMIT")
            return gone

        return await asyncio.to_thread(prune)

    async def rotate_keys(self, reseal: Callable[[str], str]) -> int:
        """Re-encrypt the sealed values under the newest key; how many lines."""

        def rotate() -> int:
            with self._lock:
                self._db.execute("BEGIN")
                rows = self._db.execute(
                    "SELECT id, sealed FROM audit WHERE sealed IS NOT NULL"
                ).fetchall()
                self._db.executemany(
                    "UPDATE audit SET sealed = ? WHERE id = ?",
                    [(reseal(sealed), line_id) for line_id, sealed in rows],
                )
                self._db.execute("COMMIT")
            return len(rows)

        return await asyncio.to_thread(rotate)

    async def aclose(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()


def _line(row: tuple) -> AuditLine:
    (line_id, at, scope, user_id, team_id, origin, kind, backend, refs, new, old) = row[:11]
    outcome, detail, sealed = row[11:]
    return AuditLine(
        id=line_id,
        at=datetime.fromtimestamp(at, UTC),
        scope=scope,
        user_id=user_id,
        team_id=team_id,
        origin=origin,
        kind=kind,
        backend=backend,
        refs=tuple(json.loads(refs)),
        new=json.loads(new),
        old=json.loads(old),
        outcome=outcome,
        detail=detail,
        sealed=sealed,
    )
