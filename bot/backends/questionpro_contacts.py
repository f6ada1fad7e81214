"""The JSON text of QuestionPro's transactions import (seed 001), written directly.

Kept apart from ``questionpro.py`` because the import checker (``bot/importer.py``) writes each
checked row with it, without a backend or any HTTP; the backend sends what it wrote.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from itertools import repeat
from typing import Any

from bot.models import Contact

_OPTIONAL_FIELDS = (("first_name", "firstName"), ("last_name", "lastName"), ("mobile", "mobile"))

# transactionDate: https://www.questionpro.com/api/cx/import-transactions-and-send-survey.html's
# example is day-first (14/01/2020); the v1 page (https://www.questionpro.com/api/cx/) says
# mm/dd/yyyy. Day-first by default; TICKETBOT_QUESTIONPRO_DATE_FORMAT changes it.
DEFAULT_DATE_FORMAT = "%d/%m/%Y"


def transaction_date_text(when: date, date_format: str = DEFAULT_DATE_FORMAT) -> str:
    """``when`` as it is sent in ``transactionDate``."""
    return when.strftime(date_format)


def _sent_date(when: date | str, date_format: str) -> str:
    if isinstance(when, str) and date_format == DEFAULT_DATE_FORMAT:
        # Checked rows carry yyyy-mm-dd: slicing beats parsing 100,000 dates back into objects.
        return f"{when[8:10]}/{when[5:7]}/{when[:4]}"
    return transaction_date_text(
        date.fromisoformat(when) if isinstance(when, str) else when, date_format
    )


# json's own writer of one string: what JSONEncoder(ensure_ascii=False) writes a str as.
_quote = json.encoder.encode_basestring


class ContactWriter:
    """Contacts as the JSON text the import endpoint takes (seed 001's shape), written directly,
    many at a time: each argument is a column (one value per contact).

    The keys are laid out once, for contacts that all have the same fields (the columns of one
    file), and each column is quoted in one pass, so a contact costs little more than its
    values: a dict per row, json-encoded, cost more than checking the row (files of 100,000
    rows). ``fields``: which of first_name, last_name and mobile are sent; a file without such a
    column sends no such key, rather than an empty one that could blank what QuestionPro
    already holds.
    """

    def __init__(self, fields: Iterable[str], date_format: str = DEFAULT_DATE_FORMAT) -> None:
        self.date_format = date_format
        given = set(fields)
        keys = [vendor for ours, vendor in _OPTIONAL_FIELDS if ours in given]
        self._fixed = len(keys) + 3
        keys += ["segmentCode", "transactionDate", "email"]
        self._head = "{" + ",".join(f'"{key}":%s' for key in keys)

    def date(self, when: date | str) -> str:
        """``when`` (a date, or yyyy-mm-dd) as it is sent in ``transactionDate``."""
        return _sent_date(when, self.date_format)

    def heads(self, columns: Sequence[Sequence[str]], *, trim: bool = False) -> list[str]:
        """Each contact's JSON up to its products, from columns of: the fields given, the
        segment code, the date as sent (``date()``), the email, then custom1… ``trim``: leave
        out the empty customs that no later custom follows."""
        numbers = range(1, len(columns) - self._fixed + 1)
        template = self._head + "".join(f',"custom{n}":%s' for n in numbers)
        heads = _filled(template, columns)
        return _trimmed(heads, [f',"custom{n}":""' for n in numbers]) if trim else heads

    def products(self, columns: Sequence[Sequence[str]], *, trim: bool = False) -> list[str]:
        """Each contact's product JSON, from columns of: name, group, then pCustom1…
        ``trim``: leave out the empty pCustoms that no later pCustom follows."""
        numbers = range(1, len(columns) - 1)
        template = '{"productName":%s,"productGroup":%s'
        template += "".join(f',"pCustom{n}":%s' for n in numbers)
        products = _filled(template, columns)
        if trim:
            products = _trimmed(products, [f',"pCustom{n}":""' for n in numbers])
        return [*map(str.__add__, products, repeat("}"))]

    @staticmethod
    def contact(head: str, products: str) -> str:
        """The whole contact: its head and its products (product JSONs joined by commas)."""
        return f'{head},"products":[{products}]}}' if products else head + "}"


def _filled(template: str, columns: Sequence[Sequence[str]]) -> list[str]:
    # map() over whole columns: one Python-level step per column, not per value.
    return [
        *map(template.__mod__, zip(*[[*map(_quote, column)] for column in columns], strict=True))
    ]


def _trimmed(texts: list[str], empties: list[str]) -> list[str]:
    # From the last key back, each empty one at the very end goes. Only an empty value ends in
    # ':""': a quote inside a value is always escaped (\").
    for empty in reversed(empties):
        texts = [*map(str.removesuffix, texts, repeat(empty))]
    return texts


def encode_contact(
    contact: Contact | Mapping[str, Any], date_format: str = DEFAULT_DATE_FORMAT
) -> str:
    """One contact as the JSON text the import endpoint takes. Takes a Contact, or the same
    fields as a mapping with the date as a date or ``yyyy-mm-dd``."""
    c = contact if isinstance(contact, Mapping) else dict(contact)
    writer = ContactWriter([ours for ours, _vendor in _OPTIONAL_FIELDS if ours in c], date_format)
    values = [c[ours] for ours, _vendor in _OPTIONAL_FIELDS if ours in c]
    values += [c["segment_code"], writer.date(c["transaction_date"]), c["email"], *c["custom"]]
    products = ",".join(_product(writer, p) for p in c["products"])
    return writer.contact(writer.heads([[v] for v in values])[0], products)


def _product(writer: ContactWriter, product: Any) -> str:
    p = product if isinstance(product, Mapping) else dict(product)
    return writer.products([[v] for v in (p["name"], p["group"], *p["custom"])])[0]
