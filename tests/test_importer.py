"""The CSV checker on its own: layouts, encodings and the row rules."""

from __future__ import annotations

import io
import itertools
import json
from datetime import date

import pytest

from bot.backends.questionpro import QuestionProBackend, encode_contact
from bot.backends.registry import Backends
from bot.credentials import QuestionProCredentials
from bot.importer import check_file
from bot.sandbox import questionpro
from bot.sandbox.run import Sandboxes

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
    checked = check_file(text.encode(), "t.csv", "S1", DAY, valid, invalid, encode_contact)
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
        check_file(text.encode(), "t.csv", "S1", DAY, valid, io.StringIO(), encode_contact)
        encoded.append(valid.getvalue().rstrip("\n").partition("\t")[2])
        expected.append(sent)
    result = await client.import_encoded(encoded)
    assert result.imported == len(SUBSETS) == 2 ** len(OPTIONAL)
    assert sandboxes.questionpro.imported == expected
