"""The PostgreSQL schema, as numbered migrations ticketbot applies itself at start.

Each entry runs once, in order, in one transaction, and is recorded in ``schema_version``.
Migrations only add (tables, columns, indexes): an older ticketbot keeps working on a newer
schema, and nothing is ever dropped by starting a new version.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: every piece of state the embedded store keeps, one table each.
    """
    CREATE TABLE IF NOT EXISTS meta (
        key text PRIMARY KEY,
        value text NOT NULL
    );
    CREATE TABLE IF NOT EXISTS credentials (
        scope text NOT NULL,
        user_id text NOT NULL,
        backend text NOT NULL,
        secret text NOT NULL,
        connected_at text NOT NULL,
        adopted_from text,
        PRIMARY KEY (scope, user_id, backend)
    );
    CREATE TABLE IF NOT EXISTS request_memory (
        key text PRIMARY KEY,
        expires_at double precision NOT NULL
    );
    CREATE INDEX IF NOT EXISTS request_memory_expires ON request_memory (expires_at);
    CREATE TABLE IF NOT EXISTS subscriptions (
        id text PRIMARY KEY,
        seq bigserial,
        team_id text NOT NULL,
        channel_id text NOT NULL,
        body jsonb NOT NULL
    );
    CREATE INDEX IF NOT EXISTS subscriptions_channel ON subscriptions (team_id, channel_id);
    CREATE TABLE IF NOT EXISTS ledger (
        subscription_id text NOT NULL,
        ticket_id bigint NOT NULL,
        is_open boolean NOT NULL DEFAULT false,
        body jsonb NOT NULL,
        PRIMARY KEY (subscription_id, ticket_id)
    );
    CREATE INDEX IF NOT EXISTS ledger_open ON ledger (is_open) WHERE is_open;
    CREATE TABLE IF NOT EXISTS import_jobs (
        id text PRIMARY KEY,
        user_id text NOT NULL,
        body jsonb NOT NULL
    );
    CREATE INDEX IF NOT EXISTS import_jobs_user ON import_jobs (user_id);
    CREATE TABLE IF NOT EXISTS import_lines (
        job_id text NOT NULL,
        line_no integer NOT NULL,
        encoded text NOT NULL,
        stored_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (job_id, line_no)
    );
    """,
    # 2: work shared across instances: leases that lapse unless renewed, the live instances,
    # and the QuestionPro calls counted across them.
    """
    CREATE TABLE IF NOT EXISTS leases (
        kind text NOT NULL,
        name text NOT NULL,
        owner text NOT NULL,
        expires_at double precision NOT NULL,
        PRIMARY KEY (kind, name)
    );
    CREATE INDEX IF NOT EXISTS leases_owner ON leases (owner);
    CREATE TABLE IF NOT EXISTS instances (
        owner text PRIMARY KEY,
        expires_at double precision NOT NULL
    );
    CREATE TABLE IF NOT EXISTS calls (
        bucket text NOT NULL,
        at double precision NOT NULL
    );
    CREATE INDEX IF NOT EXISTS calls_bucket ON calls (bucket, at);
    """,
    # 3: the ticket-feed ledger: which backend tickets each subscription recorded or posted,
    # with the message that shows each and the status it was last shown with.
    """
    CREATE TABLE IF NOT EXISTS feed_ledger (
        subscription_id text NOT NULL,
        ticket_id text NOT NULL,
        ts text,
        body jsonb NOT NULL,
        PRIMARY KEY (subscription_id, ticket_id)
    );
    CREATE INDEX IF NOT EXISTS feed_ledger_posted ON feed_ledger (subscription_id)
        WHERE ts IS NOT NULL;
    """,
]
