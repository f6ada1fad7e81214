"""Encryption at rest shared by both stores: Fernet keys, sealing, and the key canary.

Credentials and personal data are encrypted with MultiFernet, so keys can be rotated: the newest
key encrypts, every listed key decrypts. A canary value encrypted at creation lets a store tell
"wrong key" from "no data" at open time, so a store opened with the wrong key fails loudly instead
of being overwritten.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from bot.config import Settings
from bot.errors import ConfigError, StoreKeyError

log = logging.getLogger("bot.store")

CANARY = b"ticketbot-store-v1"


def json_encode(obj: Any) -> str:
    """Compact JSON: the one codec both stores write."""
    return json.dumps(obj, separators=(",", ":"))


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` readable by this user only."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)


def touch_private(path: Path) -> None:
    """Create ``path`` 0600 before anything writes it, so it is never briefly world-readable."""
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)
    path.chmod(0o600)


def parse_keys(raw: str) -> MultiFernet:
    """Build a MultiFernet from comma-separated Fernet keys, newest first."""
    keys = [part.strip() for part in raw.split(",") if part.strip()]
    if not keys:
        raise ConfigError("TICKETBOT_SECRET_KEY is empty: give one or more Fernet keys.")
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError:
        raise ConfigError(
            "TICKETBOT_SECRET_KEY must be Fernet keys (32 url-safe base64 bytes), comma-separated, "
            "newest first. Make one with `ticketbot generate-key`."
        ) from None


def load_keys(settings: Settings) -> MultiFernet:
    """The keys from TICKETBOT_SECRET_KEY, or a key generated once into the data directory."""
    if settings.secret_key is not None:
        return parse_keys(settings.secret_key.get_secret_value())
    key_file = settings.secret_key_file
    if key_file.exists():
        return parse_keys(key_file.read_text())
    ensure_private_dir(settings.data_dir)
    touch_private(key_file)
    key_file.write_text(Fernet.generate_key().decode())
    log.warning(
        "TICKETBOT_SECRET_KEY is not set: generated an encryption key in %s. To manage the key "
        "yourself, set TICKETBOT_SECRET_KEY to its contents (or a new key and run "
        "`ticketbot rotate-key`).",
        key_file,
    )
    return parse_keys(key_file.read_text())


class Sealer:
    """Encrypts values under the newest key and opens them with any; ``where`` names the store
    in the wrong-key message (a path or a database, never a password)."""

    def __init__(self, keys: MultiFernet, where: str) -> None:
        self._keys = keys
        self.where = where

    def decrypt(self, token: str) -> bytes:
        """The plaintext of ``token``, or StoreKeyError saying which keys to set."""
        try:
            return self._keys.decrypt(token.encode())
        except InvalidToken:
            raise StoreKeyError(
                f"The store {self.where} was encrypted with a different key. Set "
                "TICKETBOT_SECRET_KEY to the key(s) it was written with (newest first); nothing "
                "was changed."
            ) from None

    def encrypt(self, data: bytes) -> str:
        """``data`` encrypted under the newest key."""
        return self._keys.encrypt(data).decode()

    def seal(self, value: Any) -> str:
        """Encrypt a JSON-able value under the newest key."""
        return self.encrypt(json_encode(value).encode())

    def open_sealed(self, token: str) -> Any:
        """The value :meth:`seal` encrypted into ``token``."""
        return json.loads(self.decrypt(token))

    def reseal(self, token: str) -> str:
        """``token`` re-encrypted under the newest key (key rotation)."""
        return self._keys.rotate(token.encode()).decode()

    def new_canary(self) -> str:
        """A canary for a store that has none yet."""
        return self.encrypt(CANARY)

    def check_canary(self, canary: str) -> None:
        """StoreKeyError unless one of our keys opens ``canary``."""
        self.decrypt(canary)
