"""A subscription's health as one block of mrkdwn, for App Home ("My alert subscriptions") and
`/ticket subscriptions`: active or paused (and why), when it last polled, the last good poll, the
last error in the backend's (or Slack's) words, and whether posting works. Pure."""

from __future__ import annotations

from datetime import datetime

from bot.subscriptions import Subscription


def subscription_state(sub: Subscription, *, mine: bool = True) -> str:
    """Active or paused (and why), how the last poll went, and the health line; ``mine`` when
    shown to the subscriber (App Home), else to anyone in the channel."""
    state = _status(sub, mine=mine)
    if sub.last_poll is not None:
        outcome = "failed" if sub.failures else "ok"
        state += f" · last poll {when(sub.last_poll)} ({outcome})"
    elif not sub.paused:
        state += " · not polled yet"
    return f"{state}\n{health_line(sub)}"


def health_line(sub: Subscription) -> str:
    """The last good poll, the last error with its time, and whether posting works."""
    good = f"last good poll {when(sub.last_ok)}" if sub.last_ok else "no good poll yet"
    parts = [good]
    if sub.last_error and sub.last_error_at:
        # Stored already escaped: it is the line the pause DM or outage notice showed.
        parts.append(f"last error {when(sub.last_error_at)}: {sub.last_error}")
    if sub.paused == "channel":
        parts.append(":no_entry: posting does not work (the channel is gone or I was removed)")
    elif sub.paused == "token":
        parts.append(":no_entry: posting does not work (Slack refuses my token)")
    else:
        parts.append("posting works")
    return "Health: " + " · ".join(parts)


def _status(sub: Subscription, *, mine: bool) -> str:
    fixer = "you connect" if mine else f"<@{sub.subscriber}> connects"
    if sub.paused == "user":
        if mine:
            return ":pause_button: Paused by you; Resume to poll again."
        return f":pause_button: Paused ({sub.paused_detail or 'by its subscriber'})."
    if sub.paused == "credentials":
        return (
            f":pause_button: Paused: {sub.paused_detail or sub.vendor + ' refused the key'}. "
            f"It resumes by itself when {fixer} {sub.vendor} again."
        )
    if sub.paused:
        return f":pause_button: Paused: {sub.paused_detail or 'the channel is gone'}."
    if sub.outage_since is not None:
        return (
            f":warning: {sub.vendor} unreachable since {when(sub.outage_since)} "
            f"({sub.failures} failed poll(s)); retrying."
        )
    return ":large_green_circle: Active"


def when(moment: datetime) -> str:
    """A moment as Slack shows it in the reader's time zone, with a UTC fallback."""
    stamp = int(moment.timestamp())
    return f"<!date^{stamp}^{{date_short_pretty}} {{time}}|{moment:%Y-%m-%d %H:%M} UTC>"
