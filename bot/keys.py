"""The backend keys ticketbot knows and how they are named to people."""

from __future__ import annotations

BACKEND_LABELS = {
    "questionpro": "QuestionPro CX",
    "epixel": "Epixel support",
    "omnidesk": "Omnidesk",
    "ispcrm": "ISPCRM",
}


def label(backend: str) -> str:
    """The display name of ``backend`` (the key itself when unknown)."""
    return BACKEND_LABELS.get(backend, backend)
