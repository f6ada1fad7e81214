"""The credential store: encrypted, JSON not pickle, key rotation, wrong keys, restarts."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.__main__ import rotate_key
from bot.config import Settings
from bot.credentials import OmnideskCredentials, QuestionProCredentials
from bot.errors import StoreKeyError
from bot.runtime import build_services
from bot.sandbox.run import Sandboxes
from bot.store import Store, load_keys, parse_keys
from tests.harness import TEAM, BotUnderTest

CREDS = OmnideskCredentials(base_url="https://acme.omnidesk.com/api/v2", api_key="k-0123456789")


def _settings(tmp_path: Path, key: str | None) -> Settings:
    return Settings(data_dir=tmp_path, secret_key=key, _env_file=None)


async def _save(path: Path, keys: str) -> None:
    store = Store(path, parse_keys(keys))
    await store.save_credentials(TEAM, "U1", CREDS)
    store.close()


async def _load(path: Path, keys: str) -> OmnideskCredentials | None:
    store = Store(path, parse_keys(keys))
    try:
        return await store.load_credentials(TEAM, "U1", "omnidesk")  # type: ignore[return-value]
    finally:
        store.close()


async def test_rotation_reads_back_under_new_and_old_keys(tmp_path: Path) -> None:
    key_a, key_b = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings = _settings(tmp_path, key_a)
    await _save(settings.store_file, key_a)

    moved = await rotate_key(_settings(tmp_path, f"{key_b},{key_a}"))

    assert moved == 1
    assert await _load(settings.store_file, f"{key_b},{key_a}") == CREDS
    assert await _load(settings.store_file, key_b) == CREDS
    with pytest.raises(StoreKeyError):
        Store(settings.store_file, parse_keys(key_a))


async def test_wrong_key_fails_clearly_and_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    await _save(path, Fernet.generate_key().decode())
    before = path.read_bytes()
    with pytest.raises(StoreKeyError, match="encrypted with a different key"):
        Store(path, parse_keys(Fernet.generate_key().decode()))
    assert path.read_bytes() == before


async def test_values_are_json_and_secrets_encrypted(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    await _save(path, Fernet.generate_key().decode())
    rows = sqlite3.connect(path).execute("SELECT key, value FROM credentials").fetchall()
    assert len(rows) == 1
    key, value = rows[0]
    assert key == f"{TEAM}:U1:omnidesk"
    record = json.loads(value)  # JSON, not a pickle
    assert set(record) == {"secret", "connected_at"}
    assert "k-0123456789" not in value
    assert "acme" not in value


async def test_users_and_backends_are_kept_apart(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite", parse_keys(Fernet.generate_key().decode()))
    qp = QuestionProCredentials(datacenter="eu", api_key="qp-123456789")
    await store.save_credentials(TEAM, "U1", CREDS)
    await store.save_credentials(TEAM, "U1", qp)
    await store.save_credentials("T0OTHER", "U1", qp)
    assert await store.list_credentials(TEAM, "U1") == {"omnidesk": CREDS, "questionpro": qp}
    assert await store.list_credentials(TEAM, "U2") == {}
    assert await store.delete_credentials(TEAM, "U1", "omnidesk") is True
    assert await store.delete_credentials(TEAM, "U1", "omnidesk") is False
    assert await store.list_credentials("T0OTHER", "U1") == {"questionpro": qp}
    store.close()


def test_generated_key_is_private_and_reused(tmp_path: Path, caplog) -> None:
    settings = _settings(tmp_path / "data", None)
    with caplog.at_level(logging.WARNING):
        first = load_keys(settings)
    assert "TICKETBOT_SECRET_KEY is not set" in caplog.text
    assert oct(settings.secret_key_file.stat().st_mode & 0o777) == "0o600"
    assert oct(settings.data_dir.stat().st_mode & 0o777) == "0o700"
    token = first.encrypt(b"x")
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert load_keys(settings).decrypt(token) == b"x"
    assert caplog.text == ""  # warned once, at generation


async def test_credentials_survive_a_restart(
    bot: BotUnderTest, settings: Settings, sandboxes: Sandboxes
) -> None:
    sandboxes.omnidesk.keys["omni-key-00001234"] = {"TICKET_READ"}
    alice = bot.user("U0ALICE")
    await alice.command("connect omnidesk")
    view = (await bot.slack.wait_for("views.open"))[-1]["view"]
    await alice.submit(
        view, {"base_url": sandboxes.omnidesk.base_url, "api_key": "omni-key-00001234"}
    )
    await bot.slack.wait_for("chat.postEphemeral")
    await bot.stop()

    restarted = await BotUnderTest(bot.slack, settings, build_services(settings)).start()
    try:
        await restarted.user("U0ALICE").command("accounts")
        listed = (await restarted.slack.wait_for("response_url"))[-1]
        assert "`…1234`" in str(listed["blocks"])
    finally:
        await restarted.stop()
