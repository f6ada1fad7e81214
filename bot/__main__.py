"""The `ticketbot` command line: serve, sandbox, rotate-key, generate-key."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence

from cryptography.fernet import Fernet
from pydantic import ValidationError

from bot.config import Settings
from bot.errors import ConfigError, StoreError
from bot.logs import configure_logging

log = logging.getLogger("ticketbot")


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


async def _wait_for_stop() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def serve(settings: Settings, *, host: str, port: int, socket_mode: bool) -> None:
    """Run the bot until SIGINT/SIGTERM, over HTTP or Socket Mode."""
    from bot.alerts import DetractorPoller
    from bot.app import build_app
    from bot.runtime import build_services

    settings.require(
        "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN" if socket_mode else "SLACK_SIGNING_SECRET"
    )
    services = build_services(settings)
    stop_polling = asyncio.Event()
    poller_task: asyncio.Task[None] | None = None
    try:
        app = build_app(settings, services, socket_mode=socket_mode)
        # Detractor alerts run in the serving process, with the same Slack client as listeners.
        poller_task = asyncio.create_task(DetractorPoller(services, app.client).run(stop_polling))
        if socket_mode:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            assert settings.slack_app_token is not None
            handler = AsyncSocketModeHandler(app, settings.slack_app_token.get_secret_value())
            await handler.connect_async()
            log.info("connected to Slack over Socket Mode")
            try:
                await _wait_for_stop()
            finally:
                await handler.close_async()
        else:
            from bot.server import EVENTS_PATH, build_web_app, start_site

            runner, bound = await start_site(build_web_app(app), host, port)
            log.info("serving Slack requests at http://%s:%s%s", host, bound, EVENTS_PATH)
            try:
                await _wait_for_stop()
            finally:
                await runner.cleanup()
    finally:
        stop_polling.set()
        if poller_task is not None:
            await poller_task
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


def rotate_key(settings: Settings) -> int:
    """Re-encrypt every stored credential (and the alert ledger's personal data) under the
    newest key of TICKETBOT_SECRET_KEY; returns how many credentials moved."""
    from bot.store import Store, parse_keys
    from bot.subscriptions import AlertStore

    settings.require("TICKETBOT_SECRET_KEY")
    keys = settings.secret_key.get_secret_value()  # type: ignore[union-attr]
    if settings.secret_key_file.exists():
        # A store started on a generated key: accept that key as an old one.
        keys = f"{keys},{settings.secret_key_file.read_text().strip()}"
    store = Store(settings.store_file, parse_keys(keys))
    alerts = AlertStore(store)
    try:
        alerts.rotate()  # before the canary moves: a failure leaves the old key still valid
        count = store.rotate()
    finally:
        alerts.close()
        store.close()
    return count


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ticketbot", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="run the bot (HTTP or Socket Mode)")
    serve_cmd.add_argument("--port", type=int, help="serve Slack's HTTP mode on this port")
    serve_cmd.add_argument(
        "--host", default="127.0.0.1", help="address to bind for HTTP mode (default 127.0.0.1)"
    )
    serve_cmd.add_argument("--socket", action="store_true", help="use Socket Mode")
    sandbox_cmd = commands.add_parser("sandbox", help="run the four backend sandboxes on loopback")
    sandbox_cmd.add_argument(
        "--port",
        type=int,
        default=8701,
        help="first of four consecutive ports (default 8701; 0 picks free ones)",
    )
    commands.add_parser("demo", help="run everything on loopback and show a first session")
    commands.add_parser("rotate-key", help="re-encrypt stored credentials under the newest key")
    commands.add_parser("generate-key", help="print a new key for TICKETBOT_SECRET_KEY")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `ticketbot` console script."""
    args = _parser().parse_args(argv)
    if args.command == "generate-key":
        print(Fernet.generate_key().decode())
        return 0
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
            socket_mode = args.socket or (
                args.port is None and settings.slack_app_token is not None
            )
            asyncio.run(
                serve(
                    settings,
                    host=args.host,
                    port=3000 if args.port is None else args.port,
                    socket_mode=socket_mode,
                )
            )
        elif args.command == "rotate-key":
            count = rotate_key(settings)
            print(f"Re-encrypted {count} credential(s) under the newest key.")
    except (ConfigError, StoreError) as exc:
        print(f"ticketbot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
