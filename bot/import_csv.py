"""Reading an import file before any row is checked: its encoding, its delimiter, and which
column is what.

Columns are matched by header, ignoring case, spaces, dashes and underscores. A problem of the
whole file (not CSV, empty, no email column, unknown columns) is an ``ImportFileError`` with a
message saying what to do. Kept apart from ``importer.py``, which checks the rows, because this
runs once per file and that once per row.
"""

from __future__ import annotations

import codecs
import io
import re
from dataclasses import dataclass

from bot.blocks.limits import escape
from bot.errors import UserInputError

_CONTACT = {
    "firstname": "first_name",
    "lastname": "last_name",
    "email": "email",
    "mobile": "mobile",
    "segmentcode": "segment_code",
    "transactiondate": "transaction_date",
}
_CUSTOM = re.compile(r"^custom([1-9]\d*)$")
_NUMBERED = re.compile(r"^product(\d+)(name|group|pcustom[123]|custom[123])$")
_SINGLE = re.compile(r"^(?:product)?(name|group)$|^p?custom([123])$")


class ImportFileError(UserInputError):
    """The file as a whole cannot be used (not CSV, empty, no email column, unknown columns…)."""


def _normal(name: str) -> str:
    return re.sub(r"[\s_\-]", "", name).lower()


def decode(data: bytes, filename: str = "") -> tuple[io.TextIOBase, str]:
    """(a text stream over ``data``, how it is read): UTF-8 with or without BOM, else
    Windows-1252. The encoding is checked in 1 MiB steps, so no decoded copy of the whole file
    is ever held."""
    if not data.strip():
        raise ImportFileError("The file is empty. Export your sheet as CSV with a header row.")
    head = data[:1024]
    kind = _binary_kind(head)
    if kind or b"\x00" in head:
        raise ImportFileError(
            f"{escape(filename or 'That file')} is not a CSV file"
            f"{f' (it looks like {kind})' if kind else ''}. Export your sheet as CSV and try again."
        )
    if data.startswith(codecs.BOM_UTF8):
        encoding, how = "utf-8-sig", "UTF-8 with BOM"
    elif _decodes(data, "utf-8"):
        encoding, how = "utf-8", "UTF-8"
    elif _decodes(data, "cp1252"):
        encoding, how = "cp1252", "Windows-1252 (cp1252), as spreadsheets on Windows save it"
    else:
        raise ImportFileError(
            "The file is neither UTF-8 nor Windows-1252 text. Save it as “CSV UTF-8” and try again."
        )
    return io.TextIOWrapper(io.BytesIO(data), encoding=encoding, newline=""), how


def _decodes(data: bytes, encoding: str, step: int = 1 << 20) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        for start in range(0, len(data), step):
            decoder.decode(data[start : start + step], final=start + step >= len(data))
    except UnicodeDecodeError:
        return False
    return True


def _binary_kind(head: bytes) -> str | None:
    for magic, kind in (
        (b"\x89PNG", "a PNG image"),
        (b"%PDF", "a PDF"),
        (b"PK\x03\x04", "a ZIP or Excel .xlsx file"),
        (b"\xff\xd8\xff", "a JPEG image"),
        (b"\xd0\xcf\x11\xe0", "an old Excel .xls file"),
    ):
        if head.startswith(magic):
            return kind
    return None


def delimiter_of(sample: str) -> str:
    """The delimiter the first line uses most of: comma, semicolon or tab (comma if none)."""
    first = sample.split("\n", 1)[0]
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] else ","


@dataclass
class Columns:
    """Which column (by index) is what: contact fields, custom numbers, numbered products'
    parts, and the one-row-per-product parts."""

    contact: dict[int, str]
    custom: dict[int, int]
    numbered: dict[int, tuple[int, str]]
    single: dict[int, str]


def columns_of(header: list[str]) -> Columns:
    """What each header cell names; ImportFileError without an email column or with unknown ones."""
    columns = Columns({}, {}, {}, {})
    unknown = []
    for index, raw in enumerate(header):
        name = _normal(raw)
        if not name:
            continue
        if name in _CONTACT:
            columns.contact[index] = _CONTACT[name]
        elif match := _CUSTOM.match(name):
            columns.custom[index] = int(match.group(1))
        elif match := _NUMBERED.match(name):
            part = match.group(2).removeprefix("p")
            columns.numbered[index] = (int(match.group(1)), part)
        elif match := _SINGLE.match(name):
            columns.single[index] = match.group(1) or f"custom{match.group(2)}"
        else:
            unknown.append(raw.strip())
    if "email" not in columns.contact.values():
        raise ImportFileError("The file has no email column. Add a column named “email”.")
    if unknown:
        raise ImportFileError(
            "Unknown column(s): "
            + ", ".join(f"“{escape(u)}”" for u in unknown[:10])
            + ". Rename them "
            "to firstName, lastName, email, mobile, segmentCode, transactionDate, custom1…, "
            "product1Name… (see `/ticket import template`) or remove them."
        )
    return columns
