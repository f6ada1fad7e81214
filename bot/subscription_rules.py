"""What a channel subscription asks for, read from `/ticket subscribe <source> [options]`.

One parser for every source (QuestionPro detractors and the ticket backends), so the options
mean the same everywhere: which items (filters), how often and how (every, mode, changes,
weekly), who is nudged and when (remind, notify, escalate, hours), who may act and what the
channel may see (actors, pii). Pure: names that need Slack to become ids (``#channel``,
``@group``) are kept as typed and resolved by the handler after its ack.

Two options take a second word, as people write them: ``escalate:2h #leads`` and
``hours:09-18 Europe/Amsterdam``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import time
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field

from bot.blocks.limits import escape
from bot.errors import UserInputError
from bot.text import is_number

SOURCES = ("detractors", "omnidesk", "epixel", "ispcrm")
_SOURCE_ALIASES = {"questionpro": "detractors", "detractor": "detractors"}

_DURATION = re.compile(r"^(\d+)([smhd]?)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "": 60}
_HOURS = re.compile(r"^(\d{1,2})(?::(\d\d))?-(\d{1,2})(?::(\d\d))?$")
_RATING = re.compile(r"^(\d{1,2})-(\d{1,2})$")
# What Slack puts in text for a channel or a user group when it formats them.
_CHANNEL_MARKUP = re.compile(r"^<#([CG][A-Z0-9]+)(?:\|([^>]*))?>$")
_GROUP_MARKUP = re.compile(r"^<!subteam\^([A-Z0-9]+)(?:\|@?([^>]*))?>$")


class SlackName(BaseModel):
    """A channel or user group as typed (``name``) and, once resolved, its id."""

    name: str
    id: str | None = None

    def mention(self, kind: Literal["channel", "group"]) -> str:
        """How Slack shows it: a live link once the id is known, else the name as plain text."""
        if self.id is None:
            return escape(("#" if kind == "channel" else "@") + self.name)
        return f"<#{self.id}>" if kind == "channel" else f"<!subteam^{self.id}>"


class Filters(BaseModel):
    """Which items a subscription posts; an empty filter lets everything through."""

    statuses: list[str] = Field(default_factory=list)  # backend or neutral names, lower case
    priorities: list[str] = Field(default_factory=list)
    group: str | None = None  # Omnidesk group id, Epixel category id
    tag: str | None = None
    text: str | None = None  # words that must all appear in the subject or body
    rating_min: int | None = None  # detractors: rating range, inclusive
    rating_max: int | None = None
    words: list[str] = Field(default_factory=list)  # detractors: any of these in the comment

    def describe(self) -> list[str]:
        """The filters as a person would type them back."""
        parts = []
        if self.statuses:
            parts.append("status:" + ",".join(self.statuses))
        if self.priorities:
            parts.append("priority:" + ",".join(self.priorities))
        if self.group:
            parts.append(f"group:{self.group}")
        if self.tag:
            parts.append(f"tag:{self.tag}")
        if self.text:
            parts.append(f'text:"{self.text}"')
        if self.rating_min is not None:
            parts.append(f"rating:{self.rating_min}-{self.rating_max}")
        if self.words:
            parts.append("words:" + ",".join(self.words))
        return parts


class WorkingHours(BaseModel):
    """Hours in which reminders go out (``start`` ≤ now < ``end`` in ``tz``; may wrap midnight)."""

    start: time
    end: time
    tz: str

    def describe(self) -> str:
        return f"hours:{self.start:%H:%M}-{self.end:%H:%M} {self.tz}"


class Policy(BaseModel):
    """Escalation: reminders while unclaimed, a copy to another channel, working hours."""

    remind_seconds: int | None = None
    notify: SlackName | None = None  # a user group mentioned in each reminder
    escalate_seconds: int | None = None
    escalate_to: SlackName | None = None  # the channel an unclaimed item is copied into
    hours: WorkingHours | None = None


class Access(BaseModel):
    """Who may press Claim / Escalate / Resolve, and whether contacts are masked in the channel."""

    actors: SlackName | None = None  # a user group; None: anyone in the channel
    pii_masked: bool = False


@dataclass
class SubscribeRequest:
    """What `/ticket subscribe` (or unsubscribe) asked for: the source and the fields to set on
    the subscription (only those the person gave)."""

    source: str
    fields: dict[str, Any] = field(default_factory=dict)


def duration(value: str, what: str, low: int = 60, high: int = 7 * 86400) -> int:
    """``30m`` → 1800 (a bare number is minutes), bounded; else a message saying the format."""
    match = _DURATION.match(value)
    if match is None:
        raise UserInputError(f"`{what}:` takes a duration such as `30m`, `2h` or `1d`.")
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if not low <= seconds <= high:
        raise UserInputError(
            f"`{what}:` must be between {_spell(low)} and {_spell(high)}, e.g. `{what}:30m`."
        )
    return seconds


def _spell(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_subscribe(args: list[str]) -> SubscribeRequest:
    """``detractors segment:999 rating:0-3 remind:30m notify:@leads escalate:2h #cx-leads``."""
    if not args:
        raise UserInputError(_what_source())
    source = _SOURCE_ALIASES.get(args[0].lower(), args[0].lower())
    if source not in SOURCES:
        raise UserInputError(_what_source(args[0]))
    reader = _OptionReader(source, args[1:])
    return SubscribeRequest(source, reader.read())


def _what_source(typed: str | None = None) -> str:
    start = f"I can't subscribe to `{escape(typed)}`. " if typed else "Subscribe to what? "
    return (
        start + "Say `detractors` (QuestionPro), `omnidesk`, `epixel` or `ispcrm`, e.g. "
        "`/ticket subscribe omnidesk priority:urgent` or `/ticket subscribe detractors rating:0-3`."
    )


class _OptionReader:
    """Reads the words after the source; each option sets fields of the subscription."""

    def __init__(self, source: str, words: list[str]) -> None:
        self.source = source
        self.words = words
        self.at = 0
        self.fields: dict[str, Any] = {}
        self.filters: dict[str, Any] = {}
        self.policy: dict[str, Any] = {}
        self.access: dict[str, Any] = {}

    def read(self) -> dict[str, Any]:
        while self.at < len(self.words):
            word = self.words[self.at]
            self.at += 1
            key, sep, value = word.partition(":")
            handler = getattr(self, f"_{key.lower()}", None) if sep else None
            if handler is None or not value:
                raise UserInputError(_unknown(word, self.source))
            handler(value)
        if self.filters:
            self.fields["filters"] = Filters(**self.filters)
        if self.policy:
            self.fields["policy"] = Policy(**self.policy)
        if self.access:
            self.fields["access"] = Access(**self.access)
        return self.fields

    def _next_word(self) -> str | None:
        if self.at < len(self.words) and ":" not in self.words[self.at].lstrip("<"):
            self.at += 1
            return self.words[self.at - 1]
        return None

    def _only(self, sources: tuple[str, ...], option: str) -> None:
        if self.source not in sources:
            names = " or ".join(f"`{s}`" for s in sources)
            raise UserInputError(f"`{option}:` applies to {names} subscriptions only.")

    # Which items -------------------------------------------------------------------------------

    def _segment(self, value: str) -> None:
        self._only(("detractors",), "segment")
        self.fields["segment_id"] = _number(value, "segment")

    def _status(self, value: str) -> None:
        if self.source == "detractors":  # QuestionPro's numeric ticket status filter
            self.fields["status"] = _number(value, "status")
        else:
            self.filters["statuses"] = _list(value)

    def _priority(self, value: str) -> None:
        self._only(("omnidesk", "epixel", "ispcrm"), "priority")
        self.filters["priorities"] = _list(value)

    def _group(self, value: str) -> None:
        self._only(("omnidesk", "epixel"), "group")
        self.filters["group"] = value

    _category = _group

    def _tag(self, value: str) -> None:
        self._only(("omnidesk", "epixel"), "tag")
        self.filters["tag"] = value.lower()

    def _text(self, value: str) -> None:
        self._only(("omnidesk", "epixel", "ispcrm"), "text")
        self.filters["text"] = value.lower()

    def _rating(self, value: str) -> None:
        self._only(("detractors",), "rating")
        match = _RATING.match(value)
        low, high = (int(match.group(1)), int(match.group(2))) if match else (-1, -1)
        if not (match and 0 <= low <= high <= 10):
            raise UserInputError("`rating:` takes a range from 0 to 10, e.g. `rating:0-3`.")
        self.filters["rating_min"], self.filters["rating_max"] = low, high

    def _words(self, value: str) -> None:
        self._only(("detractors",), "words")
        self.filters["words"] = _list(value)

    # How often and how -------------------------------------------------------------------------

    def _every(self, value: str) -> None:
        self.fields["every_seconds"] = duration(value, "every", 60, 86400)

    def _mode(self, value: str) -> None:
        if value.lower() not in {"each", "digest"}:
            raise UserInputError("`mode:` is `each` (one message per item) or `digest`.")
        self.fields["mode"] = value.lower()

    def _changes(self, value: str) -> None:
        self._only(("omnidesk", "epixel", "ispcrm"), "changes")
        self.fields["changes"] = _on_off(value, "changes")

    def _weekly(self, value: str) -> None:
        self._only(("detractors",), "weekly")
        self.fields["weekly"] = _on_off(value, "weekly")

    # Who is nudged, and when -------------------------------------------------------------------

    def _remind(self, value: str) -> None:
        self._only(("detractors",), "remind")  # posts with Claim: detractor alerts
        self.policy["remind_seconds"] = duration(value, "remind", 300, 86400)

    def _notify(self, value: str) -> None:
        self._only(("detractors",), "notify")  # posts with Claim: detractor alerts
        self.policy["notify"] = _group_name(value, "notify")

    def _escalate(self, value: str) -> None:
        self._only(("detractors",), "escalate")  # posts with Claim: detractor alerts
        self.policy["escalate_seconds"] = duration(value, "escalate", 300, 7 * 86400)
        channel = self._next_word()
        if channel is None:
            raise UserInputError(
                "`escalate:` needs the channel to copy to after the time: `escalate:2h #cx-leads`."
            )
        self.policy["escalate_to"] = _channel_name(channel)

    def _hours(self, value: str) -> None:
        self._only(("detractors",), "hours")  # posts with Claim: detractor alerts
        match = _HOURS.match(value)
        zone = self._next_word()
        if match is None or zone is None:
            raise UserInputError(
                "`hours:` takes the working hours and a time zone: `hours:09-18 Europe/Amsterdam`."
            )
        start = _clock(match.group(1), match.group(2))
        end = _clock(match.group(3), match.group(4))
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise UserInputError(
                f"`{escape(zone)}` is not a time zone I know; use a name such as "
                "`Europe/Amsterdam` or `America/New_York`."
            ) from None
        if start == end:
            raise UserInputError("`hours:` needs a start and an end that differ, e.g. `09-18`.")
        self.policy["hours"] = WorkingHours(start=start, end=end, tz=zone)

    # Who may act, what the channel sees --------------------------------------------------------

    def _actors(self, value: str) -> None:
        self._only(("detractors",), "actors")  # posts with Claim: detractor alerts
        self.access["actors"] = _group_name(value, "actors")

    def _pii(self, value: str) -> None:
        self._only(("detractors",), "pii")  # posts with Claim: detractor alerts
        if value.lower() not in {"masked", "shown"}:
            raise UserInputError("`pii:` is `masked` (contacts hidden in the channel) or `shown`.")
        self.access["pii_masked"] = value.lower() == "masked"


def _unknown(word: str, source: str) -> str:
    options = {
        "detractors": "`segment:` `status:` `rating:0-3` `words:` `every:` `mode:` `weekly:off`",
        "other": "`status:` `priority:` `group:` `tag:` `text:` `changes:on` `every:` `mode:`",
    }["detractors" if source == "detractors" else "other"]
    return (
        f"I don't understand `{escape(word)}`. Options here: {options}; and for detractor "
        "subscriptions only `remind:30m` `notify:@group` `escalate:2h #channel` "
        "`hours:09-18 Europe/Amsterdam` `actors:@group` `pii:masked`."
    )


def _number(value: str, what: str) -> int:
    if not is_number(value):
        raise UserInputError(f"`{what}:` takes a number, e.g. `{what}:999`.")
    return int(value)


def _list(value: str) -> list[str]:
    return [part.strip().lower() for part in value.split(",") if part.strip()]


def _on_off(value: str, what: str) -> bool:
    if value.lower() not in {"on", "off"}:
        raise UserInputError(f"`{what}:` is `on` or `off`.")
    return value.lower() == "on"


def _clock(hour: str, minute: str | None) -> time:
    h, m = int(hour), int(minute or 0)
    if h == 24 and m == 0:
        return time(0, 0)
    if not (0 <= h < 24 and 0 <= m < 60):
        raise UserInputError("`hours:` takes hours from 00 to 24, e.g. `hours:09-18`.")
    return time(h, m)


def _group_name(value: str, what: str) -> SlackName:
    """``@support`` as typed, or ``<!subteam^S123|@support>`` as Slack formats it."""
    if match := _GROUP_MARKUP.match(value):
        return SlackName(name=match.group(2) or match.group(1), id=match.group(1))
    name = value.removeprefix("@")
    if not re.fullmatch(r"[\w.-]{1,80}", name):
        raise UserInputError(f"`{what}:` takes a user group's handle, e.g. `{what}:@support`.")
    return SlackName(name=name.lower())


def _channel_name(value: str) -> SlackName:
    """``#cx-leads`` as typed, or ``<#C123|cx-leads>`` as Slack formats it."""
    if match := _CHANNEL_MARKUP.match(value):
        return SlackName(name=match.group(2) or match.group(1), id=match.group(1))
    name = value.removeprefix("#")
    if not re.fullmatch(r"[\w.-]{1,80}", name):
        raise UserInputError("Name the channel to escalate into, e.g. `escalate:2h #cx-leads`.")
    return SlackName(name=name.lower())
