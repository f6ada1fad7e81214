"""Builds a backend client for a user's credentials, over shared connection pools.

One httpx.AsyncClient per backend serves every user (so connections are pooled); one rate limiter
per QuestionPro API key is shared by every call made with that key; login tokens are cached in
memory per account.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from typing import Protocol
from zoneinfo import ZoneInfo

import httpcore
import httpx

from bot.backends.base import BaseBackend
from bot.backends.epixel import EpixelBackend, epixel_error
from bot.backends.http import BackendHTTP, RateLimiter, RetryPolicy, make_http_client
from bot.backends.ispcrm import IspcrmBackend, ispcrm_error
from bot.backends.omnidesk import KeyPlacement, OmnideskBackend, omnidesk_error
from bot.backends.questionpro import (
    QuestionProBackend,
    base_url_for,
    clf_base_url_for,
    questionpro_error,
)
from bot.backends.tokens import TokenCache
from bot.config import Settings
from bot.credentials import (
    Credentials,
    EpixelCredentials,
    IspcrmCredentials,
    OmnideskCredentials,
    QuestionProCredentials,
)
from bot.errors import BaseUrlRefusedError
from bot.netguard import AddressGuard, AddressRefused, refusal_text

_ERROR_MAPPERS: dict[str, Callable[[httpx.Response], object]] = {
    "questionpro": questionpro_error,
    "epixel": epixel_error,
    "omnidesk": omnidesk_error,
    "ispcrm": ispcrm_error,
}


# QuestionPro allows 2,400 calls a minute per organisation beside 300 per key
# (https://www.questionpro.com/api/limits.html). No call tells which organisation a key belongs
# to (get-organization.html and get-all-users-from-organization.html both need the id first), so
# every key on one datacenter is counted as one organisation: safe, and slower only past 2,400.
QUESTIONPRO_ORG_CALLS_PER_MINUTE = 2400


class _BothLimits(RateLimiter):
    """Waits for the key's limiter, then the organisation's."""

    def __init__(self, *limiters: RateLimiter) -> None:
        self.limiters = limiters

    async def acquire(self) -> None:
        for limiter in self.limiters:
            await limiter.acquire()


class SharedRateLimiter(RateLimiter):
    """At most ``calls`` per ``period`` in ``bucket``, counted by the store for every instance
    sharing it (QuestionPro counts per key, whichever instance calls)."""

    def __init__(self, counter: CallCounter, bucket: str, calls: int, period: float) -> None:
        self.counter, self.bucket, self.calls, self.period = counter, bucket, calls, period

    async def acquire(self) -> None:
        while True:
            wait = await self.counter.take_call(self.bucket, self.calls, self.period)
            if not wait:
                return
            await asyncio.sleep(wait)  # until the window's oldest call ages out


class CallCounter(Protocol):
    """The store's shared call counter (``WorkLeases.take_call``)."""

    async def take_call(self, bucket: str, calls: int, period: float) -> float: ...


class Backends:
    """The factory listeners use: ``for_credentials(creds)`` gives that user's client."""

    def __init__(
        self,
        settings: Settings,
        *,
        policy: RetryPolicy | None = None,
        guard: AddressGuard | None = None,
        network: httpcore.AsyncNetworkBackend | None = None,
        calls: CallCounter | None = None,
    ) -> None:
        self._settings = settings
        self._policy = policy or RetryPolicy.from_settings(settings)
        # One guard for the connect-time check and every connection, so both judge alike.
        self.guard = guard or AddressGuard(settings.address_policy)
        self._network = network
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._limiters: dict[str, RateLimiter] = {}
        # Set where several instances share a store: the QuestionPro limits count there.
        self._calls = calls
        self.tokens = TokenCache()
        self.omnidesk_keys = KeyPlacement()

    def _http(self, backend: str, limiter: RateLimiter | None = None) -> BackendHTTP:
        client = self._clients.get(backend)
        if client is None:
            client = self._clients[backend] = make_http_client(
                self._settings, self.guard, self._network
            )
        return BackendHTTP(backend, client, _ERROR_MAPPERS[backend], self._policy, limiter)  # type: ignore[arg-type]

    def questionpro_limiter(self, api_key: str) -> RateLimiter:
        """The one limiter shared by every call made with ``api_key`` (300 a minute by default)."""
        digest = hashlib.sha256(api_key.encode()).hexdigest()
        limiter = self._limiters.get(digest)
        if limiter is None:
            # A second of margin: QuestionPro counts arrivals, we count departures.
            limiter = self._limiters[digest] = self._limiter(
                f"qp:{digest}", self._settings.questionpro_calls_per_minute
            )
        return limiter

    def questionpro_org_limiter(self, datacenter: str) -> RateLimiter:
        """The organisation-wide limit, shared by every key on ``datacenter`` (see above)."""
        limiter = self._limiters.get(f"org:{datacenter}")
        if limiter is None:
            limiter = self._limiters[f"org:{datacenter}"] = self._limiter(
                f"qp-org:{datacenter}", QUESTIONPRO_ORG_CALLS_PER_MINUTE
            )
        return limiter

    def _limiter(self, bucket: str, calls: int) -> RateLimiter:
        if self._calls is None:
            return RateLimiter(calls, 61.0)
        return SharedRateLimiter(self._calls, bucket, calls, 61.0)

    def _questionpro_limits(self, creds: QuestionProCredentials) -> RateLimiter:
        key = creds.api_key.get_secret_value()
        name = f"both:{creds.datacenter}:{hashlib.sha256(key.encode()).hexdigest()}"
        if name not in self._limiters:
            self._limiters[name] = _BothLimits(
                self.questionpro_limiter(key), self.questionpro_org_limiter(creds.datacenter)
            )
        return self._limiters[name]

    def for_credentials(self, creds: Credentials) -> BaseBackend:
        """A client acting as the owner of ``creds``."""
        if isinstance(creds, QuestionProCredentials):
            limiter = self._questionpro_limits(creds)
            return QuestionProBackend(
                self._http("questionpro", limiter),
                creds,
                base_url_for(creds, self._settings.questionpro_base_url),
                clf_base_url_for(creds, self._settings.questionpro_clf_base_url),
            )
        if isinstance(creds, EpixelCredentials):
            return EpixelBackend(self._http("epixel"), creds, self.tokens)
        if isinstance(creds, OmnideskCredentials):
            return OmnideskBackend(
                self._http("omnidesk"),
                creds,
                self.omnidesk_keys,
                ZoneInfo(self._settings.omnidesk_timezone),
            )
        if isinstance(creds, IspcrmCredentials):
            return IspcrmBackend(self._http("ispcrm"), creds, self.tokens)
        raise TypeError(f"no backend for {type(creds).__name__}")

    async def verify(self, creds: Credentials) -> None:
        """The live check at connect: the base URL's addresses, then one cheap authenticated
        read, logging in afresh (a cached token must not vouch for a password)."""
        base_url = getattr(creds, "base_url", None)
        if base_url is not None:
            await self._check_address(base_url)
        await self.for_credentials(creds).verify()

    async def _check_address(self, base_url: str) -> None:
        url = httpx.URL(base_url)
        try:
            await self.guard.addresses(url.host, url.port or (443 if url.scheme == "https" else 80))
        except AddressRefused:
            raise BaseUrlRefusedError(refusal_text()) from None
        except httpcore.ConnectError:
            pass  # does not resolve: the live check reports it like any unreachable host

    async def aclose(self) -> None:
        """Close every connection pool."""
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
