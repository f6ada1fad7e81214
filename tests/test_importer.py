"""The CSV checker on its own: layouts, encodings and the row rules."""

from __future__ import annotations

import csv
import io
import itertools
import json
import random
from datetime import date

import pytest

from bot.backends.questionpro import QuestionProBackend
from bot.backends.questionpro_contacts import encode_contact
from bot.backends.registry import Backends
from bot.credentials import QuestionProCredentials
from bot.importer import BATCH, check_file
from bot.models import Contact, Product
from bot.sandbox import questionpro
from bot.sandbox.run import Sandboxes

DAY = date(2026, 11, 20)


def run(text: str | bytes) -> tuple[list[dict], list[str], object]:
    """(the contacts as QuestionPro will get them, the problem rows, the Checked)."""
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
        {"productName": "TV", "productGroup": "LG", "pCustom1": "A1"},
        {"productName": "Laptop", "productGroup": "Microsoft"},
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
    assert [(c["mobile"], c["transactionDate"]) for c in contacts] == [
        ("+15551234567", "28/02/2026"),
        ("+442079460958", "20/11/2026"),
    ]
    assert len(problems) == 1 and "555-1234" in problems[0] and "29/02/2025" in problems[0]


def test_blank_lines_are_skipped_and_quoted_commas_kept() -> None:
    contacts, problems, checked = run('email,custom1\n\na@example.com,"Smith, Jr."\n\n')
    assert checked.rows == 1 and problems == []
    assert contacts[0]["custom1"] == "Smith, Jr."


# Every column but email is optional, in every combination (issue 9: a file of emails only, or
# one without lastName, crashed with KeyError). Each column with the value a row gives it and the
# key and value QuestionPro then receives.
OPTIONAL = {
    "firstName": ("Ann", {"firstName": "Ann"}),
    "lastName": ("Lee", {"lastName": "Lee"}),
    "mobile": ("+1 555 123 4567", {"mobile": "+15551234567"}),
    "segmentCode": ("S9", {"segmentCode": "S9"}),
    "transactionDate": ("14/01/2020", {"transactionDate": "14/01/2020"}),
    "custom1": ("Gold", {"custom1": "Gold"}),
    "custom2": ("North", {}),  # custom2 alone still sends custom1, empty, to keep positions
    "product1Name": ("TV", {"products": [{"productName": "TV", "productGroup": ""}]}),
}
SUBSETS = [
    subset for size in range(len(OPTIONAL) + 1) for subset in itertools.combinations(OPTIONAL, size)
]


def contact_for(subset: tuple[str, ...], email: str = "ann@example.com") -> tuple[str, dict]:
    """(a one-row CSV with ``email`` and the columns in ``subset``, what QuestionPro gets)."""
    header = ["email", *subset]
    row = [email, *(OPTIONAL[c][0] for c in subset)]
    sent: dict = {"segmentCode": "S1", "transactionDate": "20/11/2026", "email": email}
    for column in subset:
        sent.update(OPTIONAL[column][1])
    if "custom2" in subset:
        sent.update({"custom1": sent.get("custom1", ""), "custom2": "North"})
    return ",".join(header) + "\n" + ",".join(row) + "\n", sent


@pytest.mark.parametrize("subset", SUBSETS, ids=lambda s: "+".join(("email", *s)))
def test_only_email_is_required_in_every_combination_of_columns(subset: tuple[str, ...]) -> None:
    text, sent = contact_for(subset)
    valid, invalid = io.StringIO(), io.StringIO()
    checked = check_file(text.encode(), "t.csv", "S1", DAY, valid, invalid)
    assert (checked.rows, checked.valid, checked.invalid) == (1, 1, 0), invalid.getvalue()
    assert json.loads(valid.getvalue().partition("\t")[2]) == sent


async def test_every_combination_of_columns_is_accepted_by_questionpro(
    backends: Backends, sandboxes: Sandboxes
) -> None:
    client = backends.for_credentials(QuestionProCredentials(api_key=questionpro.DEMO_API_KEY))
    assert isinstance(client, QuestionProBackend)
    encoded, expected = [], []
    for number, subset in enumerate(SUBSETS):
        text, sent = contact_for(subset, f"row{number}@example.com")
        valid = io.StringIO()
        check_file(text.encode(), "t.csv", "S1", DAY, valid, io.StringIO())
        encoded.append(valid.getvalue().rstrip("\n").partition("\t")[2])
        expected.append(sent)
    result = await client.import_encoded(encoded)
    assert result.imported == len(SUBSETS) == 2 ** len(OPTIONAL)
    assert sandboxes.questionpro.imported == expected


# Strings JSON must escape, and others it must leave as they are (non-ASCII is sent unescaped).
HOSTILE = ['Jo "JJ" Lee', "back\\slash", "tab\there", "new\nline", "Zoë 日本 😀", "a\x01\x1fb"]
HOSTILE += ["%s %d", "x\u2028y", "a,b;c", "\x7f", ""]


def sent_before(contact: dict, date_format: str) -> str:
    """What QuestionPro got before the checker wrote JSON itself: a dict per contact, encoded by
    json (the code of that time, kept as the reference the spool must match byte for byte)."""
    when = contact["transaction_date"]
    data = {vendor: contact[ours] for ours, vendor in OURS_TO_SENT if ours in contact}
    data["segmentCode"] = contact["segment_code"]
    if date_format == "%d/%m/%Y":
        data["transactionDate"] = f"{when[8:10]}/{when[5:7]}/{when[:4]}"
    else:
        data["transactionDate"] = date.fromisoformat(when).strftime(date_format)
    data["email"] = contact["email"]
    for i, value in enumerate(contact["custom"], start=1):
        data[f"custom{i}"] = value
    if contact["products"]:
        data["products"] = []
        for p in contact["products"]:
            product = {"productName": p["name"], "productGroup": p["group"]}
            product.update({f"pCustom{i}": v for i, v in enumerate(p["custom"], start=1)})
            data["products"].append(product)
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


OURS_TO_SENT = (("first_name", "firstName"), ("last_name", "lastName"), ("mobile", "mobile"))


def trimmed(values: list[str]) -> list[str]:
    while values and not values[-1]:
        values = values[:-1]
    return values


SPOOL_HEADER = (
    "firstName,lastName,Email,mobile,transactionDate,custom2,custom3,"
    "product1Name,product1Group,product1PCustom2,product2Name,product2PCustom1"
)


@pytest.mark.parametrize("date_format", ["%d/%m/%Y", "%m/%d/%Y", "%Y-%m-%d"])
def test_the_spool_is_byte_for_byte_the_json_of_each_contact(date_format: str) -> None:
    rng = random.Random(date_format)
    rows = [SPOOL_HEADER.split(",")]
    expected = []
    for n in range(300):
        first, last, c2, c3, group, pc2, pc1 = (rng.choice(HOSTILE) for _ in range(7))
        when, iso = rng.choice(
            [
                ("14/01/2020", "2020-01-14"),
                ("", "2026-11-20"),
                ("2026-02-28", "2026-02-28"),
                ("31/12/0999", "0999-12-31"),
            ]
        )
        name1, name2 = rng.choice(HOSTILE[:-1]), rng.choice(HOSTILE[:-1]) if pc1 else ""
        rows.append(
            [
                first,
                last,
                f"Row{n}@Example.com",
                f"+1 555 {n:07d}",
                when,
                c2,
                c3,
                name1,
                group,
                pc2,
                name2,
                pc1,
            ]
        )
        products = [{"name": name1, "group": group, "custom": trimmed(["", pc2])}]
        if name2:
            products.append({"name": name2, "group": "", "custom": [pc1]})
        expected.append(
            {
                "first_name": first,
                "last_name": last,
                "mobile": f"+1555{n:07d}",
                "segment_code": "S1",
                "transaction_date": iso,
                "email": f"row{n}@example.com",
                "custom": trimmed(["", c2, c3]),
                "products": products,
            }
        )
    out, data = io.StringIO(), io.StringIO()
    csv.writer(data).writerows(rows)
    checked = check_file(
        data.getvalue().encode(), "t.csv", "S1", DAY, out, io.StringIO(), date_format=date_format
    )
    assert (checked.valid, checked.invalid) == (300, 0)
    # split, not splitlines: JSON leaves U+2028 unescaped, and only \n ends a spool line.
    spool = out.getvalue().split("\n")
    assert spool == [f"{n + 2}\t{sent_before(c, date_format)}" for n, c in enumerate(expected)] + [
        ""
    ]


def test_a_contact_model_is_sent_as_json_would_write_it() -> None:
    contact = Contact(
        email="ann@example.com",
        first_name=HOSTILE[0],
        mobile="+15551234567",
        segment_code="S1",
        transaction_date=date(2020, 1, 14),
        custom=HOSTILE[1:4],
        products=[Product(name=HOSTILE[4], custom=HOSTILE[5:8]), Product(name="TV", group="LG")],
    )
    reference = contact.model_dump(mode="json")
    reference["transaction_date"] = "2020-01-14"
    assert encode_contact(contact) == sent_before(reference, "%d/%m/%Y")


def test_rows_are_checked_in_batches_and_nothing_depends_on_where_one_ends() -> None:
    """A contact's product rows either side of a batch boundary are still one contact; a
    duplicate, a blank line and a short row in a later batch keep their own line numbers."""
    lines = ["email,firstName,productName,pCustom1"]
    lines += [f"c{n}@example.com,C{n},TV,A{n}" for n in range(BATCH - 1)]  # lines 2…BATCH
    lines += ["x@example.com,Xi,TV,", "x@example.com,,Radio,B"]  # lines BATCH+1, BATCH+2
    lines += ["", "C0@example.com,Again,TV,", "short@example.com"]  # BATCH+3…BATCH+5
    contacts, problems, checked = run("\n".join(lines) + "\n")
    assert (checked.rows, checked.valid, checked.invalid) == (BATCH + 3, BATCH + 1, 1)
    assert contacts[BATCH - 1]["products"] == [
        {"productName": "TV", "productGroup": ""},
        {"productName": "Radio", "productGroup": "", "pCustom1": "B"},
    ]
    assert problems == [f"{BATCH + 4},duplicate of line 2 (same email),C0@example.com,Again,TV,"]
    assert contacts[-1] == {
        "segmentCode": "S1",
        "transactionDate": "20/11/2026",
        "email": "short@example.com",
        "firstName": "",
    }
