"""`ticketbot console` driven the way a script would: lines piped in, the transcript read back."""

from __future__ import annotations

import os
import subprocess
import sys

from bot.console.render import Style, message, mrkdwn


def _console(*lines: str) -> str:
    """Run the real CLI with ``lines`` on its standard input; its whole standard output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TICKETBOT_"))}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "console"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    return done.stdout


def _after(transcript: str, marker: str) -> str:
    assert marker in transcript, transcript[-3000:]
    return transcript.split(marker, 1)[1]


def test_a_whole_session_through_a_pipe() -> None:
    transcript = _console(
        "/ticket list",
        "5",  # Open on the fifth ticket: omnidesk:1040, the newest Omnidesk one
        "1",  # Status
        "3",  # Pending, in the form's list of statuses
        "/ticket create omnidesk",
        "",  # keep Omnidesk in the backend picker
        "Printer on fire",
        "pat@example.com",
        "Pat Customer",
        *[""] * 7,  # the optional fields keep their defaults
        "/detractor",
        "1",  # Claim, on the alert that arrives
    )
    listed = _after(transcript, "alex in #support> /ticket list")
    assert "[5] Open" in listed.split("alex in #support>", 1)[0]
    opened = _after(listed, "alex in #support> 5")
    assert "omnidesk:1040" in opened.split("alex in #support>", 1)[0]
    assert "[1] Status" in opened.split("alex in #support>", 1)[0]

    status_form = _after(opened, "alex in #support> 1")
    assert "┌ Set status" in status_form
    redrawn = _after(status_form, "(updated)").split("alex in #support>", 1)[0]
    assert "Pending" in redrawn and "omnidesk:1040" in redrawn

    created = _after(transcript, "Printer on fire\n").split("alex in #support>", 1)[0]
    assert "└ submitted" in created
    assert "Created omnidesk:1041: Printer on fire" in created

    alert = _after(transcript, "alex in #support> /detractor").split("alex in #support>", 1)[0]
    assert "Detractor" in alert and "[1] Claim" in alert
    claimed = _after(transcript, "alex in #support> 1\nticketbot in #support (updated)")
    assert "claimed by @alex" in claimed.split("alex in #support>", 1)[0]


def test_a_form_error_is_shown_and_the_same_field_asked_again() -> None:
    transcript = _console(
        "/ticket connect omnidesk",
        "",  # keep Omnidesk
        "not a url",
        "omni-demo-full",
        "/cancel",
    )
    form = _after(transcript, "alex in #support> /ticket connect omnidesk")
    assert "Please fix:" in form
    asked_again = form.split("Please fix:", 1)[1]
    assert "⚠️" in asked_again and "(form closed; nothing was sent)" in asked_again


def test_console_commands_switch_person_and_channel() -> None:
    transcript = _console("/as sam", "/channel cx", "/ticket accounts", "/as nobody", "/help")
    assert "You are now sam." in transcript
    assert "sam in #cx> /ticket accounts" in transcript
    assert "Nobody called 'nobody'" in transcript
    assert "/as <name>" in transcript


def test_mrkdwn_reads_as_slack_shows_it() -> None:
    plain = Style(color=False)
    text = "*Bold* _it_ `code` <https://x.example/1|order 1> <@U0ADMIN> <#C0CX|cx> &lt;b&gt; :eyes:"
    names = {"U0ADMIN": "alex"}.get
    assert mrkdwn(text, plain, lambda i: names(i) or i) == (
        "Bold it code order 1 (https://x.example/1) @alex #cx <b> 👀"
    )
    assert mrkdwn("a*b*c and 2*3", plain) == "a*b*c and 2*3"
    bold = mrkdwn("*Bold*", Style(color=True))
    assert bold == "\x1b[1mBold\x1b[0m"


def test_buttons_and_menu_options_are_numbered_in_reading_order() -> None:
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "*T*"}, "accessory": _button("A")},
        {
            "type": "actions",
            "elements": [
                _button("B"),
                {
                    "type": "overflow",
                    "action_id": "more",
                    "options": [_option("C"), _option("D")],
                },
            ],
        },
    ]
    drawn = message(blocks, "", Style(), first_number=3)
    assert drawn.lines == ["T   [3] A", "  [4] B [5] C [6] D"]
    assert [p.label for p in drawn.pressables] == ["A", "B", "C", "D"]
    assert drawn.pressables[3].option == _option("D")


def _button(label: str) -> dict:
    return {
        "type": "button",
        "action_id": label.lower(),
        "text": {"type": "plain_text", "text": label},
    }


def _option(label: str) -> dict:
    return {"text": {"type": "plain_text", "text": label}, "value": label.lower()}


def test_control_characters_in_what_the_bot_shows_never_reach_the_terminal() -> None:
    # A subject with an OSC (set the window title), a clear-screen and a bell: the ticket the
    # backend keeps, and every message that shows it, are printed without them.
    evil = "Printer \x1b]0;pwned\x07on\x1b[2J fire\x9b"
    transcript = _console(
        "/ticket create omnidesk",
        "",  # keep Omnidesk in the backend picker
        evil,
        "pat@example.com",
        "Pat Customer",
        *[""] * 7,
        "/ticket show omnidesk:1041",
    )
    # The escapes' printable rest stays visible: the person sees that something odd was there.
    assert "Printer ]0;pwnedon[2J fire" in _after(transcript, "/ticket show omnidesk:1041")
    assert not [c for c in transcript if c not in "\n\t" and (c < " " or "\x7f" <= c <= "\x9f")]


def test_colours_survive_and_injected_sequences_do_not() -> None:
    from bot.console.render import terminal_safe

    bold = Style(color=True).wrap("bold", "x")
    assert terminal_safe(bold) == bold
    assert (
        terminal_safe("a\x1b]52;c;ZXZpbA==\x07b\x1b[2Jc\x1b[10;10Hd")
        == "a]52;c;ZXZpbA==b[2Jc[10;10Hd"
    )


def test_watching_subscriptions_threads_audit_and_insights_from_the_console() -> None:
    transcript = _console(
        "/ticket watch omnidesk:1001",
        "/ticket watching",
        "/ticket subscribe omnidesk priority:urgent changes:on",
        "/ticket subscribe omnidesk remind:30m",
        "/ticket subscriptions",
        "/ticket threads slack-only",
        "/ticket audit",
        "/ticket insights",
    )

    def answer(command: str) -> str:
        return _after(transcript, f"alex in #support> {command}\n").split("alex in #", 1)[0]

    assert "You are watching omnidesk:1001" in answer("/ticket watch omnidesk:1001")
    assert "omnidesk:1001" in answer("/ticket watching")
    assert "subscribed this channel to new Omnidesk tickets" in answer(
        "/ticket subscribe omnidesk priority:urgent changes:on"
    )
    # A detractor-only option on a ticket feed is refused, saying why.
    assert "remind: applies to detractors subscriptions only" in answer(
        "/ticket subscribe omnidesk remind:30m"
    )
    listed = answer("/ticket subscriptions")
    assert "QuestionPro detractors" in listed and "Omnidesk tickets" in listed
    assert "priority:urgent" in listed and "last poll" in listed  # filters and health
    assert "stay in Slack" in answer("/ticket threads slack-only")
    trail = answer("/ticket audit")
    assert "subscribe omnidesk" in trail and "✅ done" in trail
    assert "Time to claim" in answer("/ticket insights")
