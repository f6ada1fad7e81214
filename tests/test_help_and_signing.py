"""`/ticket help` over signed HTTP, and requests Slack did not sign are refused."""

from __future__ import annotations

import time

from bot.sandbox.payloads import Who, action, block_actions, form_body, slash_command
from tests.harness import BotUnderTest, signed_headers


def _help_form() -> str:
    return slash_command(
        Who("U1"), "help", channel_id="C1", response_url="http://127.0.0.1:9/unused"
    )


async def test_help_lists_every_subcommand_with_an_example(bot: BotUnderTest) -> None:
    response = await bot.user("U1").command("help")
    assert response.status_code == 200
    body = response.json()
    assert body["response_type"] == "ephemeral"
    text = str(body["blocks"])
    for sub in ("connect", "accounts", "disconnect"):
        assert f"/ticket {sub}" in text
    assert "Example: `/ticket connect omnidesk`" in text


async def test_help_placeholders_reach_slack_escaped(bot: BotUnderTest) -> None:
    # Slack parses <…> in mrkdwn and in `text`: a raw <ref> is shown as a link or dropped.
    body = (await bot.user("U1").command("help")).json()
    sections = [b["text"]["text"] for b in body["blocks"] if b["type"] == "section"]
    context = body["blocks"][-1]["elements"][0]["text"]
    for text in [*sections, context, body["text"]]:
        assert "<" not in text and ">" not in text, text
    assert any("/ticket show &lt;ref&gt;" in text for text in sections)
    assert "`&lt;backend&gt;:&lt;id&gt;`" in context


async def test_bare_command_shows_help(bot: BotUnderTest) -> None:
    body = (await bot.user("U1").command("")).json()
    assert "/ticket connect [backend]" in str(body["blocks"])


async def test_unknown_subcommand_suggests_the_closest(bot: BotUnderTest) -> None:
    body = (await bot.user("U1").command("acounts")).json()
    assert body["text"] == (
        "I don't know `/ticket acounts`. Did you mean `/ticket accounts`? "
        "Try `/ticket help` for the list."
    )


async def test_wrong_signature_is_refused_and_no_listener_runs(bot: BotUnderTest) -> None:
    # `accounts` answers through the response_url, so a listener that ran would leave a call.
    body = slash_command(
        Who("U1"), "accounts", channel_id="C1", response_url=bot.slack.response_url()
    )
    response = await bot.post(body, signed_headers(body, secret="not-the-secret"))
    assert response.status_code == 401
    # The same body, correctly signed, does reach the listener; once its answer is in, the
    # refused one would have answered too.
    assert (await bot.post(body)).status_code == 200
    await bot.slack.wait_for("response_url")
    # (auth.test is Bolt authorizing the signed request.)
    assert [c.method for c in bot.slack.calls if c.method != "auth.test"] == ["response_url"]


async def test_missing_signature_is_refused(bot: BotUnderTest) -> None:
    response = await bot.post(_help_form(), {"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 401
    assert "blocks" not in response.text


async def test_stale_timestamp_is_refused(bot: BotUnderTest) -> None:
    body = _help_form()
    stale = int(time.time()) - 6 * 60
    response = await bot.post(body, signed_headers(body, timestamp=stale))
    assert response.status_code == 401
    assert "blocks" not in response.text


async def test_healthz(bot: BotUnderTest) -> None:
    assert bot.http is not None
    response = await bot.http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"ok": True}


async def test_an_unexpected_failure_gives_an_error_id_not_a_trace(
    bot: BotUnderTest, caplog
) -> None:
    bot.slack.fail("views.open", "internal_error")
    await bot.user("U1").command("connect omnidesk")
    said = (await bot.slack.wait_for("response_url"))[-1]["text"]
    assert said.startswith(":x: Something went wrong on our side (error id `")
    error_id = said.split("`")[1]
    assert len(error_id) == 8 and "Traceback" not in said and "internal_error" not in said
    assert f"unhandled error [{error_id}]" in caplog.text  # the full trace is in the log


def test_the_request_log_names_known_subcommands_only() -> None:
    from bot.server import describe

    known = frozenset({"help", "connect"})
    assert describe(b"command=%2Fticket&text=connect+omnidesk", known) == "/ticket connect"
    assert describe(b"command=%2Fticket&text=hunter2-my-key+x", known) == "/ticket (other)"
    click = action("b", {"type": "button", "action_id": "ticket.show"}, "epixel:1")
    body = form_body(block_actions(Who("U1"), click, trigger_id="t", channel_id="C1")).encode()
    assert describe(body, known) == "block_actions ticket.show"
