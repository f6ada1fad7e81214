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
    # 3: watched tickets. A watch per person and ticket (the key leads with the person, for
    # "what do I watch"; a second index on ref answers "who watches this ticket"), one seen-state
    # per ticket and one row of preferences per person, their personal parts sealed in ``body``.
    """
    CREATE TABLE IF NOT EXISTS watches (
        scope text NOT NULL,
        user_id text NOT NULL,
        ref text NOT NULL,
        team_id text NOT NULL,
        since timestamptz NOT NULL,
        body jsonb NOT NULL,
        PRIMARY KEY (scope, user_id, ref)
    );
    CREATE INDEX IF NOT EXISTS watches_ref ON watches (ref);
    CREATE TABLE IF NOT EXISTS ticket_seen (
        ref text PRIMARY KEY,
        body jsonb NOT NULL
    );
    CREATE TABLE IF NOT EXISTS watch_prefs (
        scope text NOT NULL,
        user_id text NOT NULL,
        body jsonb NOT NULL,
        PRIMARY KEY (scope, user_id)
    );
    """,
    # 4: the audit trail (bot/audit.py): one row per change, the refs beside it for a ticket's
    # history; indexed for "this person since", "this ticket", "these kinds since".
    """
    CREATE TABLE IF NOT EXISTS audit (
        id bigserial PRIMARY KEY,
        at timestamptz NOT NULL,
        scope text NOT NULL,
        user_id text NOT NULL,
        team_id text NOT NULL,
        origin text NOT NULL,
        kind text NOT NULL,
        backend text,
        refs jsonb NOT NULL,
        new jsonb NOT NULL,
        old jsonb NOT NULL,
        outcome text NOT NULL,
        detail text NOT NULL,
        sealed text
    );
    CREATE INDEX IF NOT EXISTS audit_person ON audit (scope, user_id, at);
    CREATE INDEX IF NOT EXISTS audit_scope ON audit (scope, at);
    CREATE INDEX IF NOT EXISTS audit_at ON audit (at);
    CREATE INDEX IF NOT EXISTS audit_kind ON audit (kind, at);
    CREATE TABLE IF NOT EXISTS audit_refs (
        ref text NOT NULL,
        line_id bigint NOT NULL,
        at timestamptz NOT NULL
    );
    CREATE INDEX IF NOT EXISTS audit_refs_ref ON audit_refs (ref, at);
    CREATE INDEX IF NOT EXISTS audit_refs_line ON audit_refs (line_id);
    """,
    # 5: ticket threads (bot.threads): which channel message stands for which ticket, each
    # channel's default for replies, and the comments of a ticket ticketbot already knows.
    """
    CREATE TABLE IF NOT EXISTS thread_links (
        team_id text NOT NULL,
        channel_id text NOT NULL,
        ts text NOT NULL,
        ref text NOT NULL,
        linked_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (team_id, channel_id, ts)
    );
    CREATE INDEX IF NOT EXISTS thread_links_ref ON thread_links (ref);
    CREATE TABLE IF NOT EXISTS thread_channels (
        team_id text NOT NULL,
        channel_id text NOT NULL,
        slack_only boolean NOT NULL,
        PRIMARY KEY (team_id, channel_id)
    );
    CREATE TABLE IF NOT EXISTS thread_comments (
        ref text NOT NULL,
        key text NOT NULL,
        noted_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (ref, key)
    );
    """,
    # 6: the ticket-feed ledger: which backend tickets each subscription recorded or posted,
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
    # 7: a ticket id names a ticket only within one backend account (bot.credentials.account_key):
    # seen-states are kept per account and ref, thread links know their ticket's account. Rows
    # from before have the account "" (a seen-state there is never read: a new baseline).
    """
    ALTER TABLE ticket_seen ADD COLUMN IF NOT EXISTS account text NOT NULL DEFAULT '';
    ALTER TABLE ticket_seen DROP CONSTRAINT IF EXISTS ticket_seen_pkey;
    ALTER TABLE ticket_seen ADD PRIMARY KEY (account, ref);
    ALTER TABLE thread_links ADD COLUMN IF NOT EXISTS account text NOT NULL DEFAULT '';
    """,
]
