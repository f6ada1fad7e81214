"""The ticket watcher at team scale: 5,000 watched tickets on three backends, 500 people.

Omnidesk (2,000 tickets), Epixel (1,500) and ISPCRM (1,500) sandboxes, each backend's tickets
belonging to five credential owners (Omnidesk's are one account's, read with five people's keys;
Epixel's and ISPCRM's are each owner's own). Every ticket is watched by its owner; an Omnidesk
ticket also by up to two of the 500 people, who all have keys to that account (a watch is only
made by someone who can read the ticket, and only such people are told of changes). Rounds are
driven with a simulated clock, one interval apart: a baseline,
a steady round with nothing changed, then a round after 100 tickets changed in the sandboxes.

Printed beside the floor: backend calls per round and per minute (floor: one call per watched
ticket per interval), DMs per changed ticket against the watchers it has (goal: exactly one DM
per watcher per change batch), and the peak memory of a round (tracemalloc; the sandboxes run
in this process, so it includes their answers).

    .venv/bin/python -m bench.watch        (about a minute)
"""

from __future__ import annotations

import asyncio
import random
import secrets
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta

from cryptography.fernet import Fernet

from bot.app import build_slack_client
from bot.config import Settings
from bot.credentials import EpixelCredentials, IspcrmCredentials, OmnideskCredentials
from bot.runtime import build_services
from bot.sandbox.epixel import DEMO_API_KEY, EpixelSandbox
from bot.sandbox.ispcrm import IspcrmSandbox
from bot.sandbox.omnidesk import FULL_KEY, OmnideskSandbox
from bot.sandbox.slack import SlackStandIn
from bot.services import Services
from bot.watcher import TicketWatcher
from bot.watches import Watch

TEAM = "T1"
PEOPLE, OWNERS = 500, 5
COUNTS = {"omnidesk": 2_000, "epixel": 1_500, "ispcrm": 1_500}
CHANGED = 100
INTERVAL = 300.0
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def owner(backend: str, n: int) -> str:
    return f"U{backend[:3].upper()}{n}"


def seed_omnidesk(sandbox: OmnideskSandbox) -> dict[str, str]:
    """The account's tickets; which owner watches which (their keys all read the account)."""
    return {str(t): owner("omnidesk", i % OWNERS) for i, t in enumerate(sandbox.tickets)}


def seed_epixel(sandbox: EpixelSandbox) -> tuple[dict[str, str], dict[str, str]]:
    tokens, owned = {}, {}
    for n in range(OWNERS):
        user, token = owner("epixel", n), "epx-" + secrets.token_hex(8)
        sandbox.tokens[token] = (user, float("inf"))
        tokens[user] = token
    sandbox.tickets.clear()
    for i in range(COUNTS["epixel"]):
        user = owner("epixel", i % OWNERS)
        ticket = sandbox._new_ticket(user, f"Ticket {i}", "2", 1, "Details")
        owned[str(ticket["id"])] = user
    return tokens, owned


def seed_ispcrm(sandbox: IspcrmSandbox) -> tuple[dict[str, str], dict[str, str]]:
    tokens, owned = {}, {}
    sandbox.tickets.clear()
    for n in range(OWNERS):
        user = owner("ispcrm", n)
        tokens[user] = token = "isp-" + secrets.token_hex(8)
        sandbox.tokens[token] = user
        sandbox.tickets[user] = []
    for i in range(COUNTS["ispcrm"]):
        user = owner("ispcrm", i % OWNERS)
        sandbox.tickets[user].append(
            {"ticket_id": 5000 + i, "subject": f"Line {i}", "status": "Open", "priority": "Low"}
        )
        owned[str(5000 + i)] = user
    return tokens, owned


async def connect_and_watch(
    services: Services,
    omni: OmnideskSandbox,
    epx: EpixelSandbox,
    isp: IspcrmSandbox,
) -> dict[str, int]:
    """Credentials for the owners, watches for everyone; returns each ref's watcher count."""
    store, watches = services.store, services.watches
    assert watches is not None
    owned = {"omnidesk": seed_omnidesk(omni)}
    epx_tokens, owned["epixel"] = seed_epixel(epx)
    isp_tokens, owned["ispcrm"] = seed_ispcrm(isp)
    for n in range(OWNERS):
        await store.save_credentials(
            TEAM,
            owner("omnidesk", n),
            OmnideskCredentials(base_url=omni.base_url, api_key=FULL_KEY),
        )
        user = owner("epixel", n)
        await store.save_credentials(
            TEAM,
            user,
            EpixelCredentials(
                base_url=epx.base_url, api_key=DEMO_API_KEY, access_token=epx_tokens[user]
            ),
        )
        user = owner("ispcrm", n)
        await store.save_credentials(
            TEAM, user, IspcrmCredentials(base_url=isp.base_url, token=isp_tokens[user])
        )
    rnd, counts = random.Random(7), {}
    people = [f"U{n:04d}" for n in range(PEOPLE)]
    for person in people:  # a watch is made by someone who can read the ticket: the account
        await store.save_credentials(
            TEAM, person, OmnideskCredentials(base_url=omni.base_url, api_key=FULL_KEY)
        )
    for backend, tickets in owned.items():
        for ticket_id, user in tickets.items():
            ref = f"{backend}:{ticket_id}"
            # Epixel and ISPCRM show each person only their own tickets: only the owner can
            # watch those. Omnidesk's are the account's: anyone of the team may watch them.
            others = rnd.sample(people, rnd.randint(0, 2)) if backend == "omnidesk" else []
            watchers = {user, *others}
            for person in watchers:
                await watches.add_watch(Watch(ref=ref, team_id=TEAM, scope=TEAM, user_id=person))
            counts[ref] = len(watchers)
    return counts


def change(omni: OmnideskSandbox, epx: EpixelSandbox, isp: IspcrmSandbox) -> list[str]:
    """Change 100 tickets as people in the vendors' own apps would; returns their refs."""
    refs = []
    for ticket_id in list(omni.tickets)[:40]:
        ticket = omni.tickets[ticket_id]
        ticket["status"] = "open" if ticket["status"] == "solved" else "solved"
        refs.append(f"omnidesk:{ticket_id}")
    for ticket_id in list(epx.tickets)[:30]:
        epx.tickets[ticket_id]["status"] = "3"
        refs.append(f"epixel:{ticket_id}")
    for tickets in isp.tickets.values():
        for ticket in tickets[:6]:
            ticket["priority"] = "Urgent"
            refs.append(f"ispcrm:{ticket['ticket_id']}")
    return refs


async def main() -> None:
    slack = await SlackStandIn().start()
    sandboxes = (
        await OmnideskSandbox(demo_tickets=COUNTS["omnidesk"]).start(),
        await EpixelSandbox().start(),
        await IspcrmSandbox().start(),
    )
    omni, epx, isp = sandboxes
    settings = Settings(
        slack_bot_token="xoxb-bench-0000-token",
        slack_api_url=slack.api_url,
        data_dir=tempfile.mkdtemp(),
        secret_key=Fernet.generate_key().decode(),
        backend_allowlist="127.0.0.1",  # the sandboxes are on loopback
        watch_interval=INTERVAL,
        _env_file=None,
    )
    services = build_services(settings)
    try:
        counts = await connect_and_watch(services, omni, epx, isp)
        watcher = TicketWatcher(services, build_slack_client(settings))
        print(f"{len(counts):,} watched tickets, {sum(counts.values()):,} watches, {PEOPLE} people")
        print(
            f"floor: one call per ticket per interval = {len(counts):,} calls a round, "
            f"{len(counts) / (INTERVAL / 60):,.0f} a minute"
        )
        print(
            f"{'round':<22}{'secs':>6}{'calls':>8}{'per min':>9}  by backend{'':<26}{'DMs':>5}"
            f"{'peak MiB':>10}"
        )
        for n, label in enumerate(("baseline", "steady, no change", "after 100 changes")):
            changed = change(omni, epx, isp) if n == 2 else []
            before = [len(s.requests) for s in sandboxes]
            dms = watcher.notifier.sent
            tracemalloc.start()
            started = time.perf_counter()
            await watcher.check_due(now=T0 + timedelta(seconds=n * INTERVAL))
            secs = time.perf_counter() - started
            peak = tracemalloc.get_traced_memory()[1] / 1024 / 1024
            tracemalloc.stop()
            calls = [len(s.requests) - b for s, b in zip(sandboxes, before, strict=True)]
            by = ", ".join(f"{s.name} {c}" for s, c in zip(sandboxes, calls, strict=True))
            sent = watcher.notifier.sent - dms
            print(
                f"{label:<22}{secs:>6.1f}{sum(calls):>8,}{sum(calls) / (INTERVAL / 60):>9,.0f}"
                f"  {by:<36}{sent:>5}{peak:>10.1f}"
            )
        expected = sum(counts[ref] for ref in changed)
        print(
            f"DMs for {len(changed)} changed tickets: {sent} sent, goal {expected} "
            f"(one per watcher per change batch); {sent / len(changed):.2f} per change"
        )
    finally:
        await services.aclose()
        for sandbox in sandboxes:
            await sandbox.stop()
        await slack.stop()


if __name__ == "__main__":
    asyncio.run(main())
