"""Login tokens for backends that log in with a username and password (Epixel, ISPCRM).

A token is reused only by the very same credentials: the cache is keyed by an HMAC of all of
them, so typing someone's username with another password never borrows their token.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import SecretStr

from bot.errors import BackendAuthError


class TokenCache:
    """Short-lived tokens from username/password logins, kept in memory only. Keyed by an HMAC of
    the whole secret material (base URL, username, password, keys), so only the very same
    credentials reuse a token, and the keys reveal nothing even to a memory dump's reader."""

    def __init__(self) -> None:
        self._tokens: dict[str, str] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._salt = secrets.token_bytes(32)  # per process: the keys are useless elsewhere

    def key(self, *parts: str) -> str:
        """The cache key for these credentials' parts (every secret among them)."""
        material = "\x00".join(f"{len(p)}:{p}" for p in parts).encode()
        return hmac.new(self._salt, material, hashlib.sha256).hexdigest()

    def get(self, key: str) -> str | None:
        return self._tokens.get(key)

    def put(self, key: str, token: str) -> None:
        self._tokens[key] = token

    def lock(self, key: str) -> asyncio.Lock:
        """One login at a time per account, so a burst of requests logs in once."""
        return self._locks.setdefault(key, asyncio.Lock())


R = TypeVar("R")


class LoginSession:
    """The bearer token for one account: a token from an earlier login, else the one the user
    gave, else a fresh login. A call refused with 401 is sent once more after logging in again;
    a refused call did nothing, so that resend is safe even for changes."""

    def __init__(
        self,
        cache: TokenCache,
        cache_key: str,
        given: str | None,
        login: Callable[[], Awaitable[str]] | None,
    ) -> None:
        self._cache, self._key, self._given, self._login = cache, cache_key, given, login

    @classmethod
    def for_account(
        cls,
        cache: TokenCache,
        backend: str,
        creds: Any,
        given: SecretStr | None,
        login: Callable[[], Awaitable[str]],
    ) -> LoginSession:
        """The session for credentials with a base URL, an optional token and an optional
        username/password (Epixel's and ISPCRM's): logging in only when both were given."""
        can_login = creds.username is not None and creds.password is not None
        secrets_of = creds.secret_values()  # every field: a token is only for the same ones
        return cls(
            cache,
            cache.key(backend, *(f"{k}={secrets_of[k]}" for k in sorted(secrets_of))),
            given.get_secret_value() if given is not None else None,
            login if can_login else None,
        )

    async def login_afresh(self) -> None:
        """Log in now, whatever is cached: the live check at connect must prove the password,
        not that someone logged in earlier."""
        if self._login is not None:
            await self._fresh_login(self._cache.get(self._key))

    async def token(self) -> str:
        cached = self._cache.get(self._key)
        if cached is not None:
            return cached
        if self._given is not None:
            return self._given
        return await self._fresh_login(None)

    async def _fresh_login(self, stale: str | None) -> str:
        assert self._login is not None
        async with self._cache.lock(self._key):
            current = self._cache.get(self._key)
            if current is not None and current != stale:
                return current  # someone else logged in while we waited
            token = await self._login()
            self._cache.put(self._key, token)
            return token

    async def run(self, call: Callable[[str], Awaitable[R]]) -> R:
        """``call(token)``, logging in again once if it is refused with 401."""
        token = await self.token()
        try:
            return await call(token)
        except BackendAuthError:
            if self._login is None:
                raise
            return await call(await self._fresh_login(token))
