"""Customer contacts as a `pii:masked` channel shows them: enough to recognise, not to use.

``anna.berg@example.com`` → ``a***@example.com``; ``+31 6 1234 5678`` → ``+31 6 **** **78``
(the country code and the last two digits stay, the spacing too). Pure; the block builders call
``shown`` with the subscription's choice, so every channel surface masks the same way.
"""

from __future__ import annotations

import re

from bot.models import Detractor, Ticket

_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
# A phone number in free text: digits with spaces, dots, dashes or brackets between them, seven
# digits or more (so ratings, years and short ids are left alone).
_PHONE = re.compile(r"\+?\d[\d ().-]{5,}\d")
_PHONE_DIGITS = 7
_KEEP_FIRST, _KEEP_LAST = 3, 2  # digits of a phone number left as they are


def mask_email(email: str) -> str:
    """The first character of the local part and the whole domain."""
    local, at, domain = email.partition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"


def mask_phone(phone: str) -> str:
    """The first three and last two digits; every other digit a star, separators kept."""
    digits = sum(c.isdigit() for c in phone)
    if digits <= _KEEP_FIRST + _KEEP_LAST:
        return re.sub(r"\d", "*", phone)
    out, seen = [], 0
    for c in phone:
        if c.isdigit():
            seen += 1
            keep = seen <= _KEEP_FIRST or seen > digits - _KEEP_LAST
            out.append(c if keep else "*")
        else:
            out.append(c)
    return "".join(out)


def masked(d: Detractor) -> Detractor:
    """``d`` with its email and phone masked, and any email address in its comment."""
    return d.model_copy(
        update={
            "email": mask_email(d.email),
            "phone": mask_phone(d.phone) if d.phone else "",
            "comment": _EMAIL.sub(lambda m: mask_email(m.group(0)), d.comment),
        }
    )


def mask_text(text: str) -> str:
    """Free text (a ticket's subject or body typed from an alert) with every email address and
    phone-like number masked."""
    text = _EMAIL.sub(lambda m: mask_email(m.group(0)), text)
    return _PHONE.sub(_phone_match, text)


def _phone_match(m: re.Match[str]) -> str:
    found = m.group(0)
    return mask_phone(found) if sum(c.isdigit() for c in found) >= _PHONE_DIGITS else found


def masked_ticket(ticket: Ticket) -> Ticket:
    """``ticket`` as a `pii:masked` channel may show it: subject, body, author, details and
    comments through ``mask_text``."""
    return ticket.model_copy(
        update={
            "subject": mask_text(ticket.subject),
            "body": _maybe(ticket.body),
            "author": _maybe(ticket.author),
            "details": {k: mask_text(v) for k, v in ticket.details.items()},
            "comments": [
                c.model_copy(update={"body": mask_text(c.body), "author": _maybe(c.author)})
                for c in ticket.comments
            ],
        }
    )


def _maybe(text: str | None) -> str | None:
    return mask_text(text) if text else text


def shown(d: Detractor, mask: bool) -> Detractor:
    """What a channel may show of ``d``: masked when its subscription says `pii:masked`."""
    return masked(d) if mask else d
