"""Where an Omnidesk key goes, and which hosts are not Omnidesk at all.

The API specification puts the key in an ``apiKey`` header, the older authentication page and
the seed in ``?apiKey=``; ``KeyPlacement`` remembers, per account, the servers that refused the
header. ``refuse_other_product`` turns away omnidesk.ru before any traffic. Kept apart from
``omnidesk.py`` because ``Backends`` shares one ``KeyPlacement`` between every client.
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

from bot.errors import UserInputError

_OTHER_PRODUCT_HOSTS = ("omnidesk.ru", "omnidesk.pro")


def refuse_other_product(base_url: str) -> None:
    """Refuse, before any traffic, a base URL of omnidesk.ru, a different product."""
    host = (urlsplit(base_url).hostname or "").lower().rstrip(".")  # "x.ru." is "x.ru" in DNS
    if any(host == h or host.endswith("." + h) for h in _OTHER_PRODUCT_HOSTS):
        raise UserInputError(
            f"`{host}` is Omnidesk.ru, a different helpdesk with its own API (cases.json, "
            "email and key as Basic auth), which ticketbot does not support. ticketbot's "
            "Omnidesk is the one documented at docs.omnidesk.io, with an address like "
            "https://youraccount.omnidesk.com/api/v2."
        )


class KeyPlacement:
    """Which accounts' servers refused the ``apiKey`` header, so the query form is used at once.
    Shared by every client of one ``Backends``; accounts are kept as digests, never keys."""

    def __init__(self) -> None:
        self._query_only: set[str] = set()

    @staticmethod
    def account(base_url: str, api_key: str) -> str:
        """The digest naming one account (base URL and key)."""
        return hashlib.sha256(f"{base_url}\n{api_key}".encode()).hexdigest()

    def query_only(self, account: str) -> bool:
        """Whether this account needs the key in the query."""
        return account in self._query_only

    def remember_query(self, account: str) -> None:
        """This account's server refused the header and took the query form."""
        self._query_only.add(account)
