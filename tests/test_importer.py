"""The CSV checker on its own: layouts, encodings and the row rules."""

from __future__ import annotations

import io
import json
from datetime import date

from bot.importer import check_file

DAY = date(2026, 11, 20)


def run(text: str | bytes) -> tuple[list[dict], list[str], object]:
    valid, invalid = io.StringIO(), io.StringIO()
    data = text.encode() if isinstance(text, str) else text
    checked = check_file(data, "t.csv", "S1", DAY, valid, invalid)
    contacts = [json.loads(line.partition("\t")[2]) for line in valid.getvalue().splitlines()]
    return contacts, invalid.getvalue().splitlines()[1:], checked


def test_one_row_per_product_merges_consecutive_rows_of_a_contact() -> None:
    contacts, problems, _ = run(
        "email,first name,Product Name,product_group,pCustom1\n"
        "ann@example.com,Ann,TV,LG,A1\n"
        "ann@example.com,,Laptop,Microsoft,\n"
        "bob@example.com,Bob,Phone,Apple,\n"
    )
    assert problems == []
    assert [c["email"] for c in contacts] == ["ann@example.com", "bob@example.com"]
    assert contacts[0]["products"] == [
        {"name": "TV", "group": "LG", "custom": ["A1"]},
        {"name": "Laptop", "group": "Microsoft", "custom": []},
    ]


def test_a_repeated_contact_elsewhere_is_a_duplicate() -> None:
    contacts, problems, checked = run(
        "email,firstName\nann@example.com,Ann\nbob@example.com,Bob\nANN@example.com,Annie\n"
    )
    assert [c["email"] for c in contacts] == ["ann@example.com", "bob@example.com"]
    assert problems == ["4,duplicate of line 2 (same email),ANN@example.com,Annie"]
    assert checked.invalid == 1


def test_dates_mobiles_bom_and_tabs() -> None:
    contacts, problems, checked = run(
        "\ufeffemail\tmobile\ttransactionDate\n"
        "a@example.com\t+1 (555) 123-4567\t2026-02-28\n"
        "b@example.com\t0044 20 7946 0958\t\n"
        "c@example.com\t555-1234\t29/02/2025\n"
    )
    assert checked.encoding == "UTF-8 with BOM" and checked.delimiter == "\t"
    assert [(c["mobile"], c["transaction_date"]) for c in contacts] == [
        ("+15551234567", "2026-02-28"),
        ("+442079460958", "2026-11-20"),
    ]
    assert len(problems) == 1 and "555-1234" in problems[0] and "29/02/2025" in problems[0]


def test_blank_lines_are_skipped_and_quoted_commas_kept() -> None:
    contacts, problems, checked = run('email,custom1\n\na@example.com,"Smith, Jr."\n\n')
    assert checked.rows == 1 and problems == []
    assert contacts[0]["custom"] == ["Smith, Jr."]
