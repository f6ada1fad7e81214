"""The `ticketbot` command line: console, demo, serve, sandbox, rotate-key, migrate-store,
generate-key."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from cryptography.fernet import Fernet
from pydantic import ValidationError

from bot.config import Settings
from bot.errors import ConfigError, StoreError
from bot.logs import configure_logging

log = logging.getLogger("ticketbot")

DEFAULT_PORT = 3000


def load_settings() -> Settings:
    """Settings from the environment, or ConfigError with one line per bad value."""
    try:
        return Settings()
    except ValidationError as exc:
        lines = []
        for error in exc.errors(include_url=False, include_input=False):
            field = str(error["loc"][0]) if error["loc"] else "?"
            name = Settings.env_name(field) if field in Settings.model_fields else field
            lines.append(f"{name}: {error['msg'].removeprefix('Value error, ')}")
        raise ConfigError("; ".join(lines)) from None


def _stop_event() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM; taken first, so a signal at any later point stops."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop


async def _wait_for_stop() -> None:
    await _stop_event().wait()


def choose_socket_mode(settings: Settings, *, socket: bool, port: int | None) -> bool:
    """Socket Mode or HTTP, from the flags and the secrets set; ConfigError says what to set."""
    settings.require_one_token_mode()
    if settings.oauth_enabled:
        # The install pages are HTTP pages in a browser; Socket Mode has no address to serve them.
        if socket:
            raise ConfigError(
                "installing through OAuth (SLACK_CLIENT_ID) needs HTTP mode, for the "
                "/slack/install and /slack/oauth_redirect pages: drop --socket."
            )
        settings.require("SLACK_SIGNING_SECRET")
        return False
    if socket or (port is None and settings.slack_app_token is not None):
        settings.require("SLACK_APP_TOKEN")
        return True
    if port is None and settings.slack_signing_secret is None:
        raise ConfigError(
            "neither SLACK_APP_TOKEN nor SLACK_SIGNING_SECRET is set: Socket Mode needs "
            f"SLACK_APP_TOKEN ({Settings.where('SLACK_APP_TOKEN')}); HTTP mode needs "
            f"SLACK_SIGNING_SECRET ({Settings.where('SLACK_SIGNING_SECRET')})."
        )
    settings.require("SLACK_SIGNING_SECRET")
    return False


async def serve(settings: Settings, *, host: str, port: int, socket_mode: bool) -> None:
    """Run the bot until SIGINT/SIGTERM, over HTTP or Socket Mode."""
    from bot.alerts import DetractorPoller
    from bot.app import build_app
    from bot.audit import prune_until
    from bot.import_jobs import expire_until
    from bot.runtime import build_services
    from bot.watcher import TicketWatcher

    stop = _stop_event()
    services = build_services(settings)
    stop_polling = asyncio.Event()
    poller_task: asyncio.Task[None] | None = None
    watcher_task: asyncio.Task[None] | None = None
    expiry_task: asyncio.Task[None] | None = None
    prune_task: asyncio.Task[None] | None = None
    try:
        await services.start()
        app = build_app(settings, services, socket_mode=socket_mode)
        # Detractor alerts run in the serving process, with the same Slack client as listeners.
        poller_task = asyncio.create_task(DetractorPoller(services, app.client).run(stop_polling))
        if services.watches is not None:  # watched tickets: checked beside the poller
            watcher = TicketWatcher(services, app.client)
            watcher_task = asyncio.create_task(watcher.run(stop_polling))
        keep = timedelta(hours=settings.import_keep_hours)
        expiry_task = asyncio.create_task(
            expire_until(services.imports, keep, services.running_imports, stop_polling)
        )
        if services.audit is not None:
            retention = timedelta(days=settings.audit_days)
            prune_task = asyncio.create_task(prune_until(services.audit, retention, stop_polling))
        if socket_mode:
            from bot.socket_mode import SocketModeRunner

            assert settings.slack_app_token is not None
            token = settings.slack_app_token.get_secret_value()
            log.info("connecting to Slack over Socket Mode via %s", settings.slack_api_url)
            connection = asyncio.create_task(SocketModeRunner(app, token).run())
            try:
                await stop.wait()
            finally:
                connection.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await connection
        else:
            from bot.server import EVENTS_PATH, build_web_app, start_site

            runner, bound = await start_site(build_web_app(app, services), host, port)
            log.info("serving Slack requests at http://%s:%s%s", host, bound, EVENTS_PATH)
            if settings.oauth_enabled:
                log.info("installing into workspaces at http://%s:%s/slack/install", host, bound)
            try:
                await stop.wait()
            finally:
                await runner.cleanup()
    finally:
        stop_polling.set()
        if poller_task is not None:
            await poller_task
        if watcher_task is not None:
            await watcher_task
        if expiry_task is not None:
            await expiry_task
        if prune_task is not None:
            await prune_task
        await services.aclose()


async def run_sandboxes(host: str, first_port: int) -> None:
    """Serve the four backend sandboxes until SIGINT/SIGTERM."""
    from bot.sandbox.run import start_sandboxes

    sandboxes = await start_sandboxes(host, first_port)
    print(sandboxes.describe(), flush=True)
    try:
        await _wait_for_stop()
    finally:
        await sandboxes.stop()


async def rotate_key(settings: Settings) -> int:
    """Re-encrypt every stored credential (and the alert ledger's personal data) under the
    newest key of TICKETBOT_SECRET_KEY; returns how many credentials moved."""
    from bot.store import open_stores

    settings.require("TICKETBOT_SECRET_KEY")
    keys = settings.secret_key.get_secret_value()  # type: ignore[union-attr]
    if settings.secret_key_file.exists():
        # A store started on a generated key: accept that key as an old one.
        keys = f"{keys},{settings.secret_key_file.read_text().strip()}"
    stores = open_stores(settings, keys)
    try:
        count, _rows = await stores.rotate_keys()
        # Workspaces installed through OAuth: their tokens too (in the database, or the file).
        in_database = settings.database_url is not None and settings.oauth_enabled
        if in_database or (settings.database_url is None and settings.oauth_file.exists()):
            from bot.oauth import Installations

            # The client id only keys new rows; resealing needs none.
            named = settings.model_copy(update={"slack_client_id": settings.slack_client_id or "-"})
            installations = Installations(named, stores.store)
            try:
                await installations.start()
                await installations.reseal()
            finally:
                await installations.aclose()
    finally:
        await stores.aclose()
    return count


async def migrate_store(settings: Settings, data_dir: Path, *, force: bool) -> str:
    """Copy the embedded store in ``data_dir`` into TICKETBOT_DATABASE_URL; returns the counts."""
    from bot.store import open_embedded, open_stores
    from bot.store.copy import copy_store

    settings.require("TICKETBOT_DATABASE_URL", "TICKETBOT_SECRET_KEY")
    source_settings = settings.model_copy(update={"data_dir": data_dir, "database_url": None})
    if not source_settings.store_file.exists():
        raise ConfigError(f"there is no ticketbot store in {data_dir} (no ticketbot.sqlite).")
    keys = settings.secret_key.get_secret_value()  # type: ignore[union-attr]
    if source_settings.secret_key_file.exists():
        # A store started on a generated key: accept that key too.
        keys = f"{keys},{source_settings.secret_key_file.read_text().strip()}"
    source = open_embedded(source_settings, keys)
    try:
        target = open_stores(settings)
        try:
            await target.start()
            return (await copy_store(source, target, force=force)).report()
        finally:
            await target.aclose()
    finally:
        await source.aclose()


# What each setting defaults to, where "unset" would not say enough.
_DEFAULTS = {
    "SLACK_BOT_TOKEN": "required, unless SLACK_CLIENT_ID and SLACK_CLIENT_SECRET are set",
    "SLACK_APP_TOKEN": "required for Socket Mode",
    "SLACK_SIGNING_SECRET": "required for HTTP mode",
    "TICKETBOT_SECRET_KEY": "generated once into the data directory (rotate-key needs it set)",
}


def _environment(*names: str) -> str:
    """The --help epilog: each environment variable a command reads, with its default."""
    if not names:
        return "environment: none needed."
    lines = ["environment (or .env in the working directory; see .env.example):"]
    for name in names:
        info = Settings.model_fields[Settings.field_for(name)]
        default = info.default_factory() if info.default_factory else info.default  # type: ignore[call-arg]
        shown = _DEFAULTS.get(name) or ("unset" if default is None else f"default {default}")
        lines.append(f"  {name:<40} {shown}")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    from importlib.metadata import version

    parser = argparse.ArgumentParser(prog="ticketbot", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {version('ticketbot')}")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, summary: str, *env: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=summary,
            description=summary,
            epilog=_environment(*env),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    every_setting = [Settings.env_name(field) for field in Settings.model_fields]
    serve_cmd = command("serve", "run the bot (Socket Mode or HTTP)", *every_setting)
    serve_cmd.add_argument(
        "--port",
        type=int,
        help=f"serve Slack's HTTP mode on this port (0 picks a free one; default {DEFAULT_PORT} "
        "in HTTP mode, which is used when SLACK_APP_TOKEN is not set)",
    )
    serve_cmd.add_argument(
        "--host", default="127.0.0.1", help="address to bind for HTTP mode (default 127.0.0.1)"
    )
    serve_cmd.add_argument(
        "--socket",
        action="store_true",
        help="use Socket Mode (the default when SLACK_APP_TOKEN is set and --port is not given)",
    )
    sandbox_cmd = command("sandbox", "run the four backend sandboxes on loopback")
    sandbox_cmd.add_argument(
        "--port",
        type=int,
        default=8701,
        help="first of five consecutive ports (default 8701; 0 picks free ones)",
    )
    command(
        "console",
        "talk to the real bot in this terminal: sandboxes and a Slack stand-in on loopback, no "
        "Slack workspace, vendor account or setting needed",
    )
    command("demo", "run everything on loopback and show a first session")
    command(
        "rotate-key",
        "re-encrypt stored credentials under the newest key",
        "TICKETBOT_SECRET_KEY",
        "TICKETBOT_DATA_DIR",
        "TICKETBOT_DATABASE_URL",
    )
    migrate_cmd = command(
        "migrate-store",
        "copy an embedded store (a data directory) into the PostgreSQL store; records the "
        "database already has are kept unless --force, so running it again copies nothing",
        "TICKETBOT_DATABASE_URL",
        "TICKETBOT_SECRET_KEY",
    )
    migrate_cmd.add_argument(
        "--from",
        dest="source",
        required=True,
        type=Path,
        help="the embedded store's data directory (TICKETBOT_DATA_DIR)",
    )
    migrate_cmd.add_argument(
        "--force", action="store_true", help="overwrite records the database already has"
    )
    command("generate-key", "print a new key for TICKETBOT_SECRET_KEY")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `ticketbot` console script."""
    args = _parser().parse_args(argv)
    if args.command == "generate-key":
        print(Fernet.generate_key().decode())
        return 0
    if args.command == "console":
        from bot.console import run_console

        configure_logging("WARNING")
        return asyncio.run(run_console())
    if args.command == "demo":
        from bot.demo import run_demo

        configure_logging("WARNING")
        asyncio.run(run_demo())
        return 0
    if args.command == "sandbox":
        configure_logging("WARNING")
        try:
            asyncio.run(run_sandboxes("127.0.0.1", args.port))
        except OSError as exc:
            print(
                f"ticketbot: cannot start the sandboxes: {exc.strerror} (try --port 0)",
                file=sys.stderr,
            )
            return 2
        return 0
    try:
        settings = load_settings()
        configure_logging(settings.log_level)
        if args.command == "serve":
            socket_mode = choose_socket_mode(settings, socket=args.socket, port=args.port)
            port = DEFAULT_PORT if args.port is None else args.port
            asyncio.run(serve(settings, host=args.host, port=port, socket_mode=socket_mode))
        elif args.command == "rotate-key":
            count = asyncio.run(rotate_key(settings))
            print(f"Re-encrypted {count} credential(s) under the newest key.")
        elif args.command == "migrate-store":
            print(asyncio.run(migrate_store(settings, args.source, force=args.force)))
    except (ConfigError, StoreError) as exc:
        print(f"ticketbot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
