"""Which addresses ticketbot may open connections to on a user's behalf (no SSRF).

Any workspace member can type a backend base URL into `/ticket connect`, so a base URL must never
turn the bot into a way to reach its own network (cloud metadata at 169.254.169.254, databases on
loopback, hosts on a private network). A backend host must resolve only to public addresses,
unless the operator listed it in ``TICKETBOT_BACKEND_ALLOWLIST`` (hosts, IPs or CIDRs).

The rule is checked twice: at connect, to give the user one clear line on the base-URL field, and
on every connection a backend client opens (``GuardedNetworkBackend``), because DNS can change
after the first check. The guard resolves the host itself, checks every address and connects to
the checked address, so there is no second resolution for an attacker's DNS to answer
differently, and a refused address sees no traffic at all.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

ALLOWLIST_ENV = "TICKETBOT_BACKEND_ALLOWLIST"
# NAT64 prefixes carry an IPv4 address in their last 32 bits (RFC 6052, RFC 8215).
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
_HOST_NAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*")
_INET_ATON_PART = re.compile(r"0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*")


class AddressRefused(httpcore.ConnectError):
    """A connection the policy forbids; raised before any packet is sent. A ConnectError, so a
    caller that does not know about it reports it like an unreachable host."""


class PlainHttpRefused(httpx.ConnectError):
    """A plain-http request to a host that is not on the allowlist; nothing was sent."""


def parse_ip(host: str) -> IPAddress | None:
    """``host`` as an IP address in any spelling a resolver would accept (``127.1``,
    ``2130706433``, ``0x7f.1``, ``017700000001``, ``[::ffff:127.0.0.1]``, a trailing dot), or
    None when it is a name."""
    text = host.strip().lower().removeprefix("[").removesuffix("]").rstrip(".")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return _inet_aton(text)


def _inet_aton(text: str) -> ipaddress.IPv4Address | None:
    # BSD inet_aton: 1-4 parts, each decimal, octal (leading 0) or hex (0x); the last part fills
    # the bytes that are left. getaddrinfo accepts these, so they must be recognised here too.
    parts = text.split(".")
    if not 1 <= len(parts) <= 4 or not all(_INET_ATON_PART.fullmatch(p) for p in parts):
        return None
    numbers = [_aton_part(part.lower()) for part in parts]
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (4 - len(head)):
        return None
    value = last
    for index, number in enumerate(head):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _aton_part(part: str) -> int:
    if part.startswith("0x"):
        return int(part[2:] or "0", 16)
    return int(part, 8 if part.startswith("0") else 10)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    # IPv4-mapped, 6to4, Teredo, NAT64 and IPv4-compatible forms all reach an IPv4 host.
    found = [a for a in (ip.ipv4_mapped, ip.sixtofour) if a is not None]
    if ip.teredo:
        found += list(ip.teredo)
    if any(ip in net for net in _NAT64) or int(ip) >> 32 == 0:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def is_public(ip: IPAddress) -> bool:
    """True only for globally routable unicast addresses (and IPv6 forms of public IPv4 ones)."""
    if ip.version == 6 and ip.scope_id:  # type: ignore[union-attr]
        return False
    special = (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_unspecified
        or ip.is_reserved
        or (ip.version == 6 and ip.is_site_local)  # type: ignore[union-attr]
    )
    if special or not ip.is_global:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        return all(is_public(v4) for v4 in _embedded_ipv4(ip))
    return True


def normalise_host(host: str) -> str:
    """A host name as a connection sees it: IDNA-encoded, lower case, no trailing dot."""
    raw = httpx.URL(scheme="https", host=host.strip().removeprefix("[").removesuffix("]")).raw_host
    return raw.decode("ascii").lower().rstrip(".")


@dataclass(frozen=True)
class AddressPolicy:
    """The operator's allowlist: host names, and networks (a single IP is a /32 or /128)."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> AddressPolicy:
        """Parse ``TICKETBOT_BACKEND_ALLOWLIST``; a ValueError names the entry that is wrong."""
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in (e.strip() for e in (text or "").split(",")):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            ip = parse_ip(entry)
            if ip is not None:
                networks.append(ipaddress.ip_network(ip))
            elif "/" in entry or not _valid_host(entry):
                raise ValueError(f"{entry!r} is not a host name, an IP address or a CIDR")
            else:
                hosts.add(normalise_host(entry))
        return cls(frozenset(hosts), tuple(networks))

    def host_allowed(self, host: str) -> bool:
        """Whether the operator listed this host (by name, or an IP inside a listed network)."""
        ip = parse_ip(host)
        if ip is not None:
            return self.address_allowed_by_list(ip)
        return normalise_host(host) in self.hosts

    def address_allowed_by_list(self, ip: IPAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in self.networks)

    def address_allowed(self, ip: IPAddress) -> bool:
        """A public address, or one the operator allowed."""
        return is_public(ip) or self.address_allowed_by_list(ip)

    def check_base_url(self, url: str) -> None:
        """The checks that need no DNS: userinfo, plain http, an IP literal that is not public.
        Raises ValueError with the sentence to show on the base-URL field."""
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL:
            raise ValueError("That is not a valid URL; give the API's base URL.") from None
        if parsed.userinfo:
            raise ValueError(
                "Leave the user name and password out of the URL; there are fields for them."
            )
        if not self.host_allowed(parsed.host):
            if parsed.scheme != "https":
                raise ValueError("Use https:// so your key is not sent in clear text.")
            ip = parse_ip(parsed.host)
            if ip is not None and not is_public(ip):
                raise ValueError(refusal_text())


def refusal_text() -> str:
    """The one line a user sees when a base URL points at a non-public address."""
    return (
        "That address is on a private or local network, which ticketbot does not connect to. "
        f"If it is your company's own server, ask the bot's operator to add it to {ALLOWLIST_ENV}."
    )


def _valid_host(entry: str) -> bool:
    try:
        return bool(_HOST_NAME.fullmatch(normalise_host(entry)))
    except (httpx.InvalidURL, UnicodeError):
        return False


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host`` (no connection is made)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass
class AddressGuard:
    """The policy plus the resolver it checks names with; shared by the connect-time check and
    every backend connection, so both resolve and judge alike."""

    policy: AddressPolicy = field(default_factory=AddressPolicy)
    resolver: Resolver = system_resolver

    async def addresses(self, host: str, port: int) -> list[str]:
        """The checked addresses to connect to for ``host``; AddressRefused if any is refused."""
        ip = parse_ip(host)
        if ip is not None:
            if not self.policy.address_allowed(ip):
                raise AddressRefused("refused: not a public address")
            return [str(ip)]
        if not _valid_host(host):
            raise AddressRefused("refused: not a valid host name")
        host_listed = self.policy.host_allowed(host)
        try:
            resolved = await self.resolver(host, port)
        except OSError:
            raise httpcore.ConnectError("could not resolve the host") from None
        checked = [parse_ip(a) for a in resolved]
        if not checked or any(
            a is None or not (host_listed or self.policy.address_allowed(a)) for a in checked
        ):
            raise AddressRefused("refused: the host resolves to a non-public address")
        return [str(a) for a in checked]


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network layer with the address check in front of every TCP connect."""

    def __init__(self, guard: AddressGuard, inner: httpcore.AsyncNetworkBackend | None = None):
        self._guard = guard
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        with anyio.move_on_after(timeout) as scope:
            addresses = await self._guard.addresses(host, port)
        if scope.cancelled_caught:
            raise httpcore.ConnectTimeout("resolving the host took too long")
        error: Exception | None = None
        for address in addresses:  # TLS still verifies the name: httpcore passes it as SNI
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise AddressRefused("refused: unix sockets are not backends")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over ``GuardedNetworkBackend``; plain http only to allowlisted hosts."""

    def __init__(
        self,
        guard: AddressGuard,
        *,
        limits: httpx.Limits,
        network: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        super().__init__(limits=limits, trust_env=False)
        self._guard = guard
        # httpx has no public hook for the network backend, so its pool is rebuilt with ours.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedNetworkBackend(guard, network),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme != "https" and not self._guard.policy.host_allowed(request.url.host):
            raise PlainHttpRefused("plain http to a host not on the allowlist", request=request)
        return await super().handle_async_request(request)


def was_refused(exc: BaseException) -> bool:
    """Whether an httpx error came from the address guard (not from the network)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, AddressRefused | PlainHttpRefused):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
