"""The HTTP plumbing every backend shares: one httpx.AsyncClient per backend, bounded retries with
full jitter that honour Retry-After, timeouts from settings, and errors that never carry secrets.

Retry rules: a request that never reached the server (connect error, connect timeout) may always
be retried. Once it may have reached the server, only idempotent calls (GETs and documented
read-only POSTs) are retried, on timeouts, 429, 500, 502, 503 and 504. A change is never sent twice.
"""

from __future__ import annotations

import asyncio
import email.message
import email.utils
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpcore
import httpx
from pydantic import BaseModel, ValidationError

from bot.config import Settings
from bot.errors import (
    BackendAuthError,
    BackendError,
    BackendNotFound,
    BackendPermissionError,
    BackendRateLimited,
    BackendUnavailable,
    BackendUnexpectedResponse,
    BackendValidationError,
)
from bot.netguard import ALLOWLIST_ENV, AddressGuard, GuardedTransport, was_refused

log = logging.getLogger("ticketbot.backends")

M = TypeVar("M", bound=BaseModel)

# 500 too: a read that failed on the server side is safe to ask again.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# Below this much time left, another attempt could not get an answer: report instead.
MIN_ATTEMPT_SECONDS = 0.05
USER_AGENT = "ticketbot/0.1 (+https://github.com/ticketbot)"


def make_http_client(
    settings: Settings,
    guard: AddressGuard | None = None,
    network: httpcore.AsyncNetworkBackend | None = None,
) -> httpx.AsyncClient:
    """The one AsyncClient a backend's calls share (connection pooling across users). Every
    connection it opens goes through ``guard`` (public addresses or the operator's allowlist);
    ``network`` replaces the real sockets, for tests that must prove nothing was connected."""
    timeout = httpx.Timeout(
        settings.http_read_timeout,
        connect=settings.http_connect_timeout,
        pool=settings.http_read_timeout,
    )
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
    guard = guard or AddressGuard(settings.address_policy)
    return httpx.AsyncClient(
        timeout=timeout,
        transport=GuardedTransport(guard, limits=limits, network=network),
        headers={"User-Agent": USER_AGENT},
        follow_redirects=False,  # a redirect could carry our auth headers to another host
        trust_env=False,  # a proxy from the environment would connect where the guard cannot see
    )


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: at most ``attempts`` sends within ``max_seconds``."""

    attempts: int = 4
    max_seconds: float = 30.0
    base_delay: float = 0.25
    max_delay: float = 8.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(attempts=settings.retry_attempts, max_seconds=settings.retry_max_seconds)

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform between 0 and the exponential cap (AWS architecture blog)."""
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))  # noqa: S311


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Retry-After as seconds, from either of its forms (delta-seconds or an HTTP date)."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def redact_url(url: str | httpx.URL) -> str:
    """scheme://host/path, without the query (query strings may carry keys, like Omnidesk's
    apiKey) and without user:password@ (a password typed into a URL)."""
    parts = urlsplit(str(url))
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}{parts.path}"


class RateLimiter:
    """At most ``calls`` per ``period`` seconds, shared by everything using one API key."""

    def __init__(self, calls: int, period: float) -> None:
        self.calls, self.period = calls, period
        self._sent: deque[float] = deque()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                while self._sent and now - self._sent[0] >= self.period:
                    self._sent.popleft()
                if len(self._sent) < self.calls:
                    self._sent.append(now)
                    return
                await asyncio.sleep(self.period - (now - self._sent[0]))


ErrorMapper = Callable[[httpx.Response], BackendError]


@dataclass
class BackendHTTP:
    """Sends one backend's requests. ``map_error`` turns a non-2xx response into the tree."""

    backend: str
    client: httpx.AsyncClient
    map_error: ErrorMapper
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    limiter: RateLimiter | None = None
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    async def send(
        self, method: str, url: str, *, idempotent: bool, **kwargs: Any
    ) -> httpx.Response:
        """Send with retries; returns a 2xx response or raises a BackendError. The whole call,
        waits and attempts included, ends within ``policy.max_seconds``."""
        deadline = time.monotonic() + self.policy.max_seconds
        for attempt in range(self.policy.attempts):
            last = attempt == self.policy.attempts - 1
            try:
                response = await self._attempt(method, url, deadline, **kwargs)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                if was_refused(exc):
                    # Same words as an unreachable host: the user learns nothing about the
                    # network behind the bot; the operator's log says what happened.
                    log.warning(
                        "%s: refused to connect to %s: not a public address and not in %s",
                        self.backend,
                        redact_url(url),
                        ALLOWLIST_ENV,
                    )
                    raise BackendUnavailable(self.backend, _describe(exc)) from None
                # Never reached the server: safe to retry whatever the method.
                error: BackendError = BackendUnavailable(self.backend, _describe(exc))
                delay = self.policy.backoff(attempt)
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                if not idempotent:
                    raise BackendUnavailable(
                        self.backend,
                        f"{_describe(exc)}; the change may or may not have been made, so it was "
                        "not sent again. Check the ticket before retrying",
                        maybe_done=True,
                    ) from None
                error, delay = (
                    BackendUnavailable(self.backend, _describe(exc)),
                    self.policy.backoff(attempt),
                )
            else:
                if response.is_success:
                    return response
                error = self.map_error(response)
                if not (idempotent and response.status_code in RETRYABLE_STATUSES):
                    raise error
                if isinstance(error, BackendRateLimited) and error.quota_exhausted:
                    raise error
                hinted = retry_after_seconds(response)
                delay = hinted if hinted is not None else self.policy.backoff(attempt)
            # No wait that would leave no time for the attempt after it.
            if last or time.monotonic() + delay + MIN_ATTEMPT_SECONDS > deadline:
                raise error
            log.info(
                "%s: retrying %s %s in %.2f s (%s)",
                self.backend,
                method,
                redact_url(url),
                delay,
                error.message,
            )
            await self.sleep(delay)
        raise AssertionError("unreachable")  # the loop always returns or raises

    async def _attempt(
        self, method: str, url: str, deadline: float, **kwargs: Any
    ) -> httpx.Response:
        """One send, cut off at ``deadline`` (an httpx timeout bounds each read, not the whole
        exchange, so a backend trickling bytes could otherwise overrun the budget)."""
        if self.limiter is not None:
            try:
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    await self.limiter.acquire()
            except TimeoutError:
                raise BackendRateLimited(
                    self.backend, "too many calls with this key right now"
                ) from None
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                return await self._send_once(method, url, **kwargs)
        except TimeoutError:
            # It may have reached the server: a timeout, never a "did not connect".
            raise httpx.ReadTimeout("out of time") from None

    async def _send_once(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        started = time.perf_counter()
        response = await self.client.request(method, url, **kwargs)
        log.debug(
            "%s %s %s -> %s in %.0f ms",
            self.backend,
            method,
            redact_url(url),
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        return response

    async def json(self, method: str, url: str, *, idempotent: bool, **kwargs: Any) -> Any:
        """Send, then decode the JSON body (a body that is not JSON is an unexpected response)."""
        return parse_json(
            self.backend, await self.send(method, url, idempotent=idempotent, **kwargs)
        )


def _describe(exc: httpx.HTTPError) -> str:
    # httpx messages can include the URL for some errors; name the kind instead. A refused
    # address, a closed port and a silent one read alike, so the answer maps no network.
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return "could not connect (check the base URL)"
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    return "the connection broke off"


def parse_json(backend: str, response: httpx.Response) -> Any:
    """The decoded body, or BackendUnexpectedResponse naming the backend and HTTP status."""
    try:
        return response.json()
    except ValueError:
        kind = response.headers.get("Content-Type", "no content type").split(";")[0]
        raise BackendUnexpectedResponse(
            backend, f"expected JSON but got {kind or 'an empty body'}", status=response.status_code
        ) from None


def parse_model(backend: str, model: type[M], data: Any, status: int | None = None) -> M:
    """Validate vendor JSON into ``model``; a mismatch is an unexpected response, not a trace."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise BackendUnexpectedResponse(
            backend,
            f"the body does not match the documented shape ({where}: {first['msg']})",
            status=status,
        ) from None


def body_of(response: httpx.Response) -> Mapping[str, Any]:
    """The JSON object of an error response, or {} when it is not one (HTML pages, garbage)."""
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, Mapping) else {}


def generic_error(
    backend: str, response: httpx.Response, message: str | None = None
) -> BackendError:
    """Map an HTTP status alone to the tree, for bodies that carry no usable error."""
    status = response.status_code
    if not body_of(response) and status < 500 and status not in {401, 403, 404, 429}:
        return BackendUnexpectedResponse(backend, "an error page instead of JSON", status=status)
    # The standard phrase, not the server's: a status line is free text from whoever answered.
    text = message or httpx.codes.get_reason_phrase(status) or f"HTTP {status}"
    if status == 401:
        return BackendAuthError(backend, text, status=status)
    if status == 403:
        return BackendPermissionError(backend, text, status=status)
    if status == 404:
        return BackendNotFound(backend, text, status=status)
    if status == 429:
        return BackendRateLimited(backend, text, retry_after=retry_after_seconds(response))
    if status >= 500:
        return BackendUnavailable(backend, f"{text} (HTTP {status})", status=status)
    return BackendValidationError(backend, text, status=status)


def attachment_filename(response: httpx.Response) -> str | None:
    """The file name a download's Content-Disposition gives, if any."""
    header = response.headers.get("Content-Disposition")
    if not header:
        return None
    message = email.message.Message()
    message["Content-Disposition"] = header
    return message.get_filename()
