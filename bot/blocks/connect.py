"""The connect modal and the accounts list."""

from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import urlsplit

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.blocks.limits import escape
from bot.credentials import CONNECT_FIELDS, ConnectField, Credentials
from bot.ids import FIELD_ACTION, Action, Callback
from bot.ids import Block as BlockId
from bot.keys import BACKEND_LABELS

TITLE = "Connect an account"  # Slack caps modal titles at 24 characters


def connect_metadata(backend: str | None, channel_id: str | None, *, home: bool = False) -> str:
    """private_metadata for the modal: which backend, where to confirm afterwards, and whether
    it was opened from App Home (which is then redrawn once the account is connected)."""
    data: dict[str, object] = {"backend": backend, "channel_id": channel_id}
    if home:
        data["home"] = True
    return json.dumps(data)


def _backend_options() -> list[Option]:
    return [Option(value=key, text=label) for key, label in BACKEND_LABELS.items()]


def _backend_picker(backend: str | None) -> ActionsBlock:
    options = _backend_options()
    initial = next((o for o in options if o.value == backend), None)
    return ActionsBlock(
        block_id=BlockId.CONNECT_BACKEND,
        elements=[
            StaticSelectElement(
                action_id=Action.CONNECT_PICK_BACKEND,
                placeholder="Choose a backend",
                options=options,
                initial_option=initial,
            )
        ],
    )


def _input(spec: ConnectField, value: str | None) -> InputBlock:
    hint = spec.hint
    if spec.kind == "secret":
        # Slack has no masked text input; say who can see it so nobody pastes it in a channel.
        hint = ((hint + " ") if hint else "") + "Only you see this dialog; it is stored encrypted."
    if spec.kind == "select":
        options = [Option(value=k, text=v) for k, v in spec.options.items()]
        initial = next((o for o in options if o.value == value), options[0])
        element = StaticSelectElement(
            action_id=FIELD_ACTION, options=options, initial_option=initial
        )
    else:
        element = PlainTextInputElement(
            action_id=FIELD_ACTION,
            initial_value=value or None,
            placeholder=spec.placeholder,
            max_length=3000,
        )
    return InputBlock(
        block_id=spec.name, label=spec.label, element=element, optional=spec.optional, hint=hint
    )


def connect_modal(
    backend: str | None,
    channel_id: str | None,
    *,
    values: Mapping[str, str | None] | None = None,
    notice: str | None = None,
    field_errors: Mapping[str, str] | None = None,
    home: bool = False,
) -> View:
    """The connect form; with ``values`` and ``notice`` it re-renders a failed attempt intact."""
    values = values or {}
    field_errors = field_errors or {}
    blocks: list[Block] = [_backend_picker(backend)]
    if notice:
        blocks.append(
            SectionBlock(block_id=BlockId.CONNECT_NOTICE, text=MarkdownTextObject(text=notice))
        )
    if backend is None:
        blocks.append(_context("Pick the system you want ticketbot to reach with your account."))
    else:
        for spec in CONNECT_FIELDS[backend]:
            blocks.append(_input(spec, values.get(spec.name)))
            if spec.name in field_errors:
                blocks.append(_context(f":warning: {escape(field_errors[spec.name])}"))
    return View(
        type="modal",
        callback_id=Callback.CONNECT,
        title=TITLE,
        submit="Connect" if backend else None,
        close="Cancel",
        private_metadata=connect_metadata(backend, channel_id, home=home),
        blocks=blocks,
    )


def refused_connect_modal(
    backend: str,
    channel_id: str | None,
    values: Mapping[str, str | None],
    notice: str | None,
    field_errors: Mapping[str, str] | None = None,
    *,
    home: bool = False,
) -> View:
    """The form again after the live check refused it: URLs, names and choices kept, secrets
    (keys, tokens, passwords) cleared with a hint under each one that was typed.

    Putting a secret back would send it out of the bot again, into a view Slack keeps and
    returns with every later payload of that modal; a refused key is usually the wrong one anyway.
    """
    secret = {spec.name: spec.label for spec in CONNECT_FIELDS[backend] if spec.kind == "secret"}
    hints = {name: f"Enter the {_in_sentence(label)} again." for name, label in secret.items()}
    return connect_modal(
        backend,
        channel_id,
        values={k: v for k, v in values.items() if k not in secret},
        notice=notice,
        field_errors={name: hint for name, hint in hints.items() if values.get(name)}
        | dict(field_errors or {}),
        home=home,
    )


def _in_sentence(label: str) -> str:
    # "Password" -> "password", but "API key" stays: acronyms keep their capitals.
    first, space, rest = label.partition(" ")
    return (first if first.isupper() else first.lower()) + space + rest


def connect_progress_modal(backend: str, text: str) -> View:
    """Shown while a submission is checked against the backend (after the ack)."""
    return View(
        type="modal",
        callback_id=Callback.CONNECT,
        title=TITLE,
        close="Close",
        blocks=[
            SectionBlock(text=MarkdownTextObject(text=text)),
            _context(BACKEND_LABELS[backend]),
        ],
    )


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=text)])


def _where(creds: Credentials) -> str:
    base_url = getattr(creds, "base_url", None)
    if base_url:
        return urlsplit(base_url).hostname or ""
    return f"datacenter {getattr(creds, 'datacenter', '')}".strip()


def connected_text(creds: Credentials) -> str:
    """The one-line confirmation after saving, secret masked."""
    label = BACKEND_LABELS[creds.backend]
    return f":white_check_mark: Connected *{label}* ({_where(creds)}, key `{creds.masked()}`)."


def accounts_blocks(accounts: Mapping[str, Credentials]) -> list[Block]:
    """The user's connected backends, masked, each with a Disconnect button."""
    if not accounts:
        return [
            SectionBlock(
                text=MarkdownTextObject(
                    text="You have no accounts connected. Run `/ticket connect` to add one."
                )
            )
        ]
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text="*Your connected accounts*"))]
    blocks += [account_row(key, creds, Action.DISCONNECT) for key, creds in accounts.items()]
    return blocks


def account_row(backend: str, creds: Credentials, disconnect_action: str) -> SectionBlock:
    """One connected backend, its key masked, with a Disconnect button that asks first."""
    return SectionBlock(
        block_id=f"account_{backend}",
        text=MarkdownTextObject(
            text=f"*{BACKEND_LABELS[backend]}* · {_where(creds)} · `{creds.masked()}`"
        ),
        accessory=ButtonElement(
            text="Disconnect",
            action_id=disconnect_action,
            value=backend,
            style="danger",
            confirm=ConfirmObject(
                title="Disconnect?",
                text=f"Delete your stored {BACKEND_LABELS[backend]} credentials?",
                confirm="Disconnect",
                deny="Keep",
            ),
        ),
    )


def connect_button_blocks(text: str, backend: str) -> list[Block]:
    """A message with a button that opens the connect modal for ``backend``."""
    return [
        SectionBlock(
            text=MarkdownTextObject(text=text),
            accessory=ButtonElement(
                text=f"Connect {BACKEND_LABELS[backend]}",
                action_id=Action.CONNECT_OPEN,
                value=backend,
                style="primary",
            ),
        )
    ]
