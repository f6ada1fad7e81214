"""`/ticket subscribe` options: one parser for every source, with a message that says what to
type for each thing it cannot use."""

from __future__ import annotations

from datetime import time

import pytest

from bot.errors import UserInputError
from bot.subscription_rules import SlackName, SubscribeRequest, parse_subscribe
from bot.subscriptions import Subscription
from handlers.commands import split_command


def typed(text: str) -> list[str]:
    """The words after `/ticket subscribe`, split as the command splits them (quotes group)."""
    return split_command(f"subscribe {text}")[1]


def parse_subscribe_typed(text: str) -> SubscribeRequest:
    return parse_subscribe(typed(text))


def test_detractor_options_with_every_policy() -> None:
    request = parse_subscribe_typed(
        "detractors segment:999 rating:0-3 words:refund,late every:10m remind:30m "
        "notify:@Support-Leads escalate:2h #cx-leads hours:09-18 Europe/Amsterdam "
        "actors:@support pii:masked weekly:off"
    )
    fields = request.fields
    assert request.source == "detractors" and fields["segment_id"] == 999
    assert (fields["filters"].rating_min, fields["filters"].rating_max) == (0, 3)
    assert fields["filters"].words == ["refund", "late"]
    assert fields["every_seconds"] == 600 and fields["weekly"] is False
    policy = fields["policy"]
    assert policy.remind_seconds == 1800 and policy.notify == SlackName(name="support-leads")
    assert policy.escalate_seconds == 7200 and policy.escalate_to == SlackName(name="cx-leads")
    assert (policy.hours.start, policy.hours.end) == (time(9), time(18))
    assert policy.hours.tz == "Europe/Amsterdam"
    assert fields["access"].actors == SlackName(name="support")
    assert fields["access"].pii_masked is True


def test_slack_formatted_channel_and_group_keep_their_ids() -> None:
    fields = parse_subscribe(
        ["detractors", "escalate:1h", "<#C0LEADS|cx-leads>", "notify:<!subteam^S0SUP|@support>"]
    ).fields
    assert fields["policy"].escalate_to == SlackName(name="cx-leads", id="C0LEADS")
    assert fields["policy"].notify == SlackName(name="support", id="S0SUP")


def test_ticket_backend_filters() -> None:
    request = parse_subscribe(
        [
            "omnidesk",
            "status:open,pending",
            "priority:urgent",
            "group:7",
            "tag:VIP",
            "text:refund now",
            "changes:on",
        ]
    )
    filters = request.fields["filters"]
    assert filters.statuses == ["open", "pending"] and filters.priorities == ["urgent"]
    assert (filters.group, filters.tag, filters.text) == ("7", "vip", "refund now")
    assert request.fields["changes"] is True


def test_the_description_reads_back_as_typed() -> None:
    fields = parse_subscribe(typed("epixel priority:high text:refund every:10m")).fields
    sub = Subscription(team_id="T1", channel_id="C1", subscriber="U1", source="epixel", **fields)
    assert "priority:high" in sub.describe() and 'text:"refund"' in sub.describe()
    fields = parse_subscribe(
        typed("detractors remind:30m escalate:2h #leads actors:@support pii:masked")
    ).fields
    sub = Subscription(team_id="T1", channel_id="C1", subscriber="U1", **fields)
    described = sub.describe()
    for words in ("remind:30m", "escalate:120m #leads", "actors:@support", "pii:masked"):
        assert words in described
    assert "all segments" in described


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "Subscribe to what?"),
        ("jira", "I can't subscribe to `jira`"),
        ("detractors rating:3-1", "from 0 to 10"),
        ("detractors priority:high", "applies to"),
        ("omnidesk rating:0-3", "applies to"),
        ("omnidesk remind:30m", "applies to `detractors`"),  # ticket posts have no Claim
        ("detractors remind:2", "between 5m and 1d"),
        ("detractors escalate:2h", "needs the channel"),
        ("detractors hours:09-18", "time zone"),
        ("detractors hours:09-18 Mars/Olympus", "not a time zone"),
        ("detractors hours:25-18 UTC", "from 00 to 24"),
        ("detractors pii:hidden", "`masked`"),
        ("omnidesk colour:red", "I don't understand `colour:red`"),
        ("detractors notify:<script>", "user group's handle"),
    ],
)
def test_each_unusable_option_says_what_to_type(text: str, says: str) -> None:
    with pytest.raises(UserInputError) as refused:
        parse_subscribe(typed(text))
    assert says in refused.value.user_message()


def test_the_unknown_option_message_says_the_alert_policies_are_for_detractors() -> None:
    with pytest.raises(UserInputError) as refused:
        parse_subscribe(typed("omnidesk colour:red"))
    said = refused.value.user_message()
    assert "for detractor subscriptions only `remind:30m`" in said
    assert "every source" not in said
    with pytest.raises(UserInputError) as policy:  # and indeed a feed refuses them
        parse_subscribe(typed("omnidesk remind:30m"))
    assert "detractor" in policy.value.user_message()


def test_user_text_in_a_refusal_is_escaped() -> None:
    with pytest.raises(UserInputError) as refused:
        parse_subscribe(["omnidesk", "<!channel>:x"])
    assert "<!channel>" not in refused.value.user_message()
