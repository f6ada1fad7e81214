"""QuestionPro transactions import: CSV in, every row checked, valid contacts spooled to disk.

Columns are matched by header, ignoring case, spaces, dashes and underscores: firstName,
lastName, email, mobile, segmentCode, transactionDate, custom1…customN, and products either as
numbered column groups (product1Name, product1Group, product1PCustom1…3, product2Name, …) or as
one row per product (productName, productGroup, pCustom1…3) with the contact's rows one after
another. The file is read a few hundred rows at a time and valid contacts go to a JSON-lines file,
so memory does not grow with the file (only each email seen is kept, to find duplicates).

This module checks the rows and spools them; reading the file's encoding, delimiter and header is
in ``import_csv.py``, writing QuestionPro's JSON in ``bot/backends/questionpro_contacts.py``.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from itertools import compress, count, islice
from operator import not_
from pathlib import Path
from typing import IO

from bot.backends.questionpro_contacts import DEFAULT_DATE_FORMAT, ContactWriter
from bot.import_csv import Columns, ImportFileError, columns_of, decode, delimiter_of

EMAIL = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[A-Za-z0-9-]{2,}$")
MOBILE = re.compile(r"^\+[1-9]\d{6,14}$")
_E164_OR_EMPTY = re.compile(r"(?:\+[1-9]\d{6,14})?")  # fullmatch: nothing to normalise
_MOBILE_NOISE = str.maketrans("", "", " -().")
SHOWN_PROBLEMS = 20

TEMPLATE = (
    "firstName,lastName,email,mobile,segmentCode,transactionDate,custom1,custom2,"
    "product1Name,product1Group,product1PCustom1,product1PCustom2,product2Name,product2Group\r\n"
    "First,Contact,first@example.com,+10123456789,S1,14/01/2020,Additional,Information,"
    "60 inch TV,LG,MS-18KNYA1,$699.99,Surface Pro Laptop,Microsoft\r\n"
    "Second,Contact,second@example.com,+10123456780,,,Gold member,,Soundbar,Sony,,,,\r\n"
)


@dataclass
class Problem:
    line: int
    reasons: list[str]
    raw: list[str]


@dataclass
class Checked:
    """The outcome of checking a file: where the valid contacts are, and what was wrong."""

    encoding: str
    delimiter: str
    rows: int = 0
    valid: int = 0
    problems: list[Problem] = field(default_factory=list)  # the first SHOWN_PROBLEMS
    invalid: int = 0
    header: list[str] = field(default_factory=list)


def parse_date(text: str) -> date:
    """dd/mm/yyyy (QuestionPro's form) or yyyy-mm-dd; ValueError for dates that do not exist."""
    if "/" in text:
        day, month, year = text.split("/")
    elif "-" in text:
        year, month, day = text.split("-")
    else:
        raise ValueError(text)
    return date(int(year), int(month), int(day))


# Rows checked together: enough to spread each column's steps over many rows, few enough to stay
# in the CPU's cache (measured on bench/import.py: 200 rows ~5x the bare parse, 1,000 ~6x).
BATCH = 200


@dataclass
class _Batch:
    """What ``Checker.check`` found in consecutive rows, by row index."""

    blank: set[int]
    reasons: dict[int, list[str]]  # the rows with problems
    emails: list[str]
    names: list[list[str]]  # columns: first name, last name, mobile (those the file has)
    heads: list[str]  # ContactWriter.heads()
    products: list[str]  # each row's product JSONs, joined by commas


class Checker:
    """Checks rows a batch at a time, column by column, and writes the good ones as QuestionPro's
    JSON.

    Everything that depends only on the header (which cell is what, the product groups, the
    keys of the JSON) is worked out once here, and each check runs over a whole column with
    map(), so the interpreter takes a few steps per column rather than per value: this runs for
    every row of files of 100,000 rows. A column the file lacks reads column -1, which is empty.
    """

    def __init__(
        self,
        columns: Columns,
        segment_code: str,
        transaction_date: date,
        writer: ContactWriter,
    ) -> None:
        at = {name: index for index, name in columns.contact.items()}
        self.email_at = at["email"]
        self.names_at = [at[k] for k in ("first_name", "last_name") if k in at]
        self.mobile_at = at.get("mobile")
        self.segment_at = at.get("segment_code", -1)
        self.date_at = at.get("transaction_date", -1)
        self.writer = writer
        # hash(email) -> first line: a duplicate check that does not keep every address.
        self.seen: dict[int, int] = {}
        indexes = [*columns.contact, *columns.custom, *columns.numbered, *columns.single]
        self.width = max(indexes) + 1
        # custom2 stays custom2 even when the file has no custom1 column.
        by_number = {number: index for index, number in columns.custom.items()}
        self.custom_at = [by_number.get(n, -1) for n in range(1, max(by_number, default=0) + 1)]
        self.products = _product_layout(columns)
        self.segments = {"": segment_code}  # an empty segment code is the one picked
        # The text of a date -> as sent (files repeat few dates); no date: the one picked.
        self.dates = {"": writer.date(transaction_date.isoformat())}

    def check(self, rows: list[list[str]]) -> _Batch:
        """Check consecutive rows (all the checks but duplicates, which need the rows before)."""
        if min(map(len, rows)) < self.width:
            rows = [row + [""] * (self.width - len(row)) for row in rows]
        size = len(rows)
        cells = [*zip(*rows, strict=False), ("",) * size]  # the longer rows' extra cells go
        column = {i: [*map(str.strip, cells[i])] for i in range(-1, self.width)}
        blank = set(compress(count(), map(not_, map(str.strip, map("".join, rows)))))
        reasons: dict[int, list[str]] = {}
        emails = [*map(str.lower, column[self.email_at])]
        for i in compress(count(), map(not_, map(EMAIL.match, emails))):
            why = f"“{emails[i]}” is not an email address" if emails[i] else "email is missing"
            reasons[i] = [why]
        names = [column[i] for i in self.names_at]
        if self.mobile_at is not None:  # every column but email is optional
            names.append(self._mobiles(column[self.mobile_at], reasons))
        sent = self._dates(column[self.date_at], reasons)
        segments = column[self.segment_at]
        segments = [*map(self.segments.get, segments, segments)]
        customs = [column[i] for i in self.custom_at]
        heads = self.writer.heads([*names, segments, sent, emails, *customs], trim=True)
        return _Batch(blank, reasons, emails, names, heads, self._products(column, reasons, size))

    def _mobiles(self, given: list[str], reasons: dict[int, list[str]]) -> list[str]:
        mobiles = given.copy()
        for i in compress(count(), map(not_, map(_E164_OR_EMPTY.fullmatch, given))):
            mobile = given[i].translate(_MOBILE_NOISE)
            if mobile.startswith("00"):
                mobile = "+" + mobile[2:]
            if mobile and not MOBILE.match(mobile):
                why = f"mobile “{given[i]}” is not in international format (+15551234567)"
                reasons.setdefault(i, []).append(why)
            mobiles[i] = mobile
        return mobiles

    def _dates(self, texts: list[str], reasons: dict[int, list[str]]) -> list[str]:
        sent = [*map(self.dates.get, texts)]
        for i in compress(count(), map(not_, sent)):  # not seen yet (or not a date)
            try:
                sent[i] = self._remember(texts[i], parse_date(texts[i]))
            except ValueError:
                why = f"transactionDate “{texts[i]}” is not a real date (dd/mm/yyyy)"
                reasons.setdefault(i, []).append(why)
                sent[i] = ""
        return sent  # every None replaced above

    def _remember(self, text: str, when: date) -> str:
        sent = self.writer.date(when.isoformat())
        if len(self.dates) <= 10_000:  # bounded: memory must not grow with the file
            self.dates[text] = sent
        return sent

    def _products(
        self, column: dict[int, list[str]], reasons: dict[int, list[str]], size: int
    ) -> list[str]:
        each = []
        for number, at in self.products:
            parts = [column[i] for i in at]  # name, group, custom1…
            products = self.writer.products(parts, trim=True)
            for i in compress(count(), map(not_, parts[0])):  # no name: no product
                products[i] = ""
                if any(part[i] for part in parts[1:]):
                    why = f"product {number or ''} has no name".replace("  ", " ")
                    reasons.setdefault(i, []).append(why)
            each.append(products)
        if len(each) < 2:
            return each[0] if each else [""] * size
        return [*map(",".join, map(partial(filter, None), zip(*each, strict=True)))]


def _product_layout(columns: Columns) -> list[tuple[int, list[int]]]:
    """(number, [index of name, of group, of custom1…]) per product, in number order, -1 for a
    column the file lacks; the one-row-per-product columns are product 0."""
    parts: dict[int, dict[str, int]] = {}
    for index, (number, part) in columns.numbered.items():
        parts.setdefault(number, {})[part] = index
    if columns.single:
        parts[0] = {part: index for index, part in columns.single.items()}
    layout = []
    for number in sorted(parts):
        at = parts[number]
        custom = [at.get(f"custom{k}", -1) for k in (1, 2, 3)]
        while custom and custom[-1] == -1:  # always empty: not worth reading
            custom.pop()
        layout.append((number, [at.get("name", -1), at.get("group", -1), *custom]))
    return layout


def check_file(
    data: bytes,
    filename: str,
    segment_code: str,
    transaction_date: date,
    valid_out: IO[str],
    invalid_out: IO[str],
    *,
    date_format: str = DEFAULT_DATE_FORMAT,
) -> Checked:
    """Check every row; valid contacts go to ``valid_out`` as ``<line>\t<JSON>``, the JSON
    being what QuestionPro's import takes (so the spool is sent as it is; transactionDate in
    ``date_format``), bad rows with their reasons to ``invalid_out`` (CSV). Raises
    ImportFileError for problems of the whole file."""
    stream, encoding = decode(data, filename)
    delimiter = delimiter_of(stream.read(4096))
    stream.seek(0)
    reader = csv.reader(stream, delimiter=delimiter)
    header = next(reader, None)
    if not header or not any(cell.strip() for cell in header):
        raise ImportFileError("The file has no header row. The first row must name the columns.")
    columns = columns_of(header)
    writer = ContactWriter(columns.contact.values(), date_format)
    checker = Checker(columns, segment_code, transaction_date, writer)
    checked = Checked(encoding=encoding, delimiter=delimiter, header=header)
    bad_rows = csv.writer(invalid_out)
    bad_rows.writerow(["line", "problems", *header])
    # The contact last seen, written out once its last product row has been: [line, email,
    # its batch, its index there, head, products].
    pending: list | None = None
    seen = checker.seen
    for first_line in count(2, BATCH):
        rows = [*islice(reader, BATCH)]
        if not rows:
            break
        batch = checker.check(rows)
        written = []
        for i, raw in enumerate(rows):
            if i in batch.blank:
                continue
            line = first_line + i
            checked.rows += 1
            reasons = batch.reasons.get(i)
            if reasons is None:
                email = batch.emails[i]
                if (
                    pending is not None
                    and email == pending[1]
                    and batch.products[i]
                    and _same_person(pending[2], pending[3], batch, i)
                ):
                    pending[5] += "," + batch.products[i] if pending[5] else batch.products[i]
                    continue  # one row per product
                first = seen.setdefault(hash(email), line)
                if first != line:
                    reasons = [f"duplicate of line {first} (same email)"]
            if reasons:
                checked.invalid += 1
                if len(checked.problems) < SHOWN_PROBLEMS:
                    checked.problems.append(Problem(line, reasons, raw))
                bad_rows.writerow([line, "; ".join(reasons), *raw])
                continue
            if pending is not None:
                written.append(f"{pending[0]}\t{writer.contact(pending[4], pending[5])}\n")
            pending = [line, email, batch, i, batch.heads[i], batch.products[i]]
        valid_out.write("".join(written))
        checked.valid += len(written)
    if pending is not None:
        valid_out.write(f"{pending[0]}\t{writer.contact(pending[4], pending[5])}\n")
        checked.valid += 1
    if checked.rows == 0:
        raise ImportFileError("The file has a header but no rows.")
    return checked


def _same_person(first: _Batch, at: int, later: _Batch, i: int) -> bool:
    # A product row may leave the contact's fields empty or repeat them; it must not change them.
    return all(
        not theirs[i] or theirs[i] == ours[at]
        for ours, theirs in zip(first.names, later.names, strict=True)
    )


def read_chunks(path: Path, size: int) -> Iterator[list[tuple[int, str]]]:
    """The valid contacts as (source line, encoded contact), ``size`` at a time, read lazily."""
    chunk: list[tuple[int, str]] = []
    with path.open(encoding="utf-8") as spool:
        for text in spool:
            line, _, encoded = text.rstrip("\n").partition("\t")
            chunk.append((int(line), encoded))
            if len(chunk) == size:
                yield chunk
                chunk = []
    if chunk:
        yield chunk
