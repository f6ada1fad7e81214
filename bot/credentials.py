"""What each backend needs to connect, validated before anything is stored.

One pydantic model per backend. The connect modal is generated from ``CONNECT_FIELDS`` and its
inline errors come from these models' validation, so the two never drift apart.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    SecretStr,
    ValidationError,
    model_validator,
)

from bot.blocks.limits import escape
from bot.errors import UnknownBackendError
from bot.netguard import AddressPolicy
from bot.text import is_number

# QuestionPro's API host per datacenter (BACKENDS.md). Beyond US/EU/CA the hosts come from a vendor
# SDK, not the vendor's Environment page: unconfirmed, so they live here as one table.
# api.surveyanalytics.com is labelled by its host alone: nothing public ties it to a country.
QUESTIONPRO_DATACENTERS: dict[str, tuple[str, str]] = {
    "us": ("United States (questionpro.com)", "api.questionpro.com"),
    "eu": ("Europe (questionpro.eu)", "api.questionpro.eu"),
    "ca": ("Canada (questionpro.ca)", "api.questionpro.ca"),
    "sg": ("Singapore (questionpro.sg)", "api.questionpro.sg"),
    "au": ("Australia (questionpro.au)", "api.questionpro.au"),
    "ae": ("UAE (questionpro.ae)", "api.questionpro.ae"),
    "sa": ("api.surveyanalytics.com", "api.surveyanalytics.com"),
    "sa2": ("Saudi Arabia (questionprosa.com)", "api.questionprosa.com"),
}


def check_base_url(value: str) -> str:
    """Accept an http(s) URL with a host and no user:password@. Which hosts may be reached, and
    over plain http, is the operator's policy (``AddressPolicy.check_base_url``), not shape."""
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(
            "Enter a full URL starting with https://, for example https://example.com/api"
        )
    if "@" in parts.netloc:
        raise ValueError(
            "Leave the user name and password out of the URL; there are fields for them."
        )
    if parts.query or parts.fragment:
        raise ValueError("Leave out the ?query and #fragment; give the API's base URL only.")
    return value.rstrip("/")


def _not_blank(value: SecretStr) -> SecretStr:
    if not value.get_secret_value().strip():
        raise ValueError("This field is required.")
    return SecretStr(value.get_secret_value().strip())


def _workspace_id(value: str) -> str:
    if not is_number(value):
        raise ValueError("A workspace id is a number, as in the Closed Loop page's address.")
    return value


BaseUrl = Annotated[str, AfterValidator(check_base_url)]
Secret = Annotated[SecretStr, AfterValidator(_not_blank)]


class _Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    def secret_values(self) -> dict[str, Any]:
        """Every field with secrets revealed: only for encrypting into the store."""
        return {
            name: value.get_secret_value() if isinstance(value, SecretStr) else value
            for name, value in self
            if value is not None
        }

    def masked(self) -> str:
        """A hint that tells accounts apart without revealing them: ``…3f9a``."""
        secret = self._primary_secret()
        return "…" + secret[-4:] if len(secret) >= 8 else "…"

    def _primary_secret(self) -> str:
        for value in (getattr(self, "api_key", None), getattr(self, "token", None)):
            if value is not None:
                return value.get_secret_value()
        return ""


class QuestionProCredentials(_Credentials):
    backend: Literal["questionpro"] = "questionpro"
    datacenter: Literal["us", "eu", "ca", "sg", "au", "ae", "sa", "sa2"] = "us"
    api_key: Secret
    # Set when the account uses Closed Loop: tickets then come from the CLF host
    # (https://www.questionpro.com/api/cx/get-clf-tickets.html) instead of /cx/tickets/detractors.
    workspace_id: Annotated[str, AfterValidator(_workspace_id)] | None = None


class EpixelCredentials(_Credentials):
    backend: Literal["epixel"] = "epixel"
    base_url: BaseUrl
    api_key: Secret
    access_token: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None

    @model_validator(mode="after")
    def _token_or_login(self) -> EpixelCredentials:
        _require_token_or_login(self.access_token, self.username, self.password, "access_token")
        return self


class OmnideskCredentials(_Credentials):
    backend: Literal["omnidesk"] = "omnidesk"
    base_url: BaseUrl
    api_key: Secret


class IspcrmCredentials(_Credentials):
    backend: Literal["ispcrm"] = "ispcrm"
    base_url: BaseUrl
    token: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None

    @model_validator(mode="after")
    def _token_or_login(self) -> IspcrmCredentials:
        _require_token_or_login(self.token, self.username, self.password, "token")
        return self

    def _primary_secret(self) -> str:
        return self.token.get_secret_value() if self.token else (self.username or "")


def _require_token_or_login(
    token: SecretStr | None, username: str | None, password: SecretStr | None, token_field: str
) -> None:
    has_token = token is not None and token.get_secret_value().strip()
    has_user, has_password = bool(username), password is not None and password.get_secret_value()
    if has_token or (has_user and has_password):
        return
    if has_user and not has_password:
        raise ValueError("password: Enter the password for this username.")
    if has_password and not has_user:
        raise ValueError("username: Enter the username for this password.")
    raise ValueError(f"{token_field}: Enter a token, or a username and password instead.")


Credentials = QuestionProCredentials | EpixelCredentials | OmnideskCredentials | IspcrmCredentials

CREDENTIAL_MODELS: dict[str, type[_Credentials]] = {
    "questionpro": QuestionProCredentials,
    "epixel": EpixelCredentials,
    "omnidesk": OmnideskCredentials,
    "ispcrm": IspcrmCredentials,
}


@dataclass(frozen=True)
class ConnectField:
    """One input of the connect modal; ``name`` is both the model field and the block_id."""

    name: str
    label: str
    kind: Literal["text", "url", "secret", "select"] = "text"
    optional: bool = False
    hint: str | None = None
    placeholder: str | None = None
    options: dict[str, str] = field(default_factory=dict)


_EITHER_HINT = "Give a token, or leave it empty and give a username and password."

CONNECT_FIELDS: dict[str, list[ConnectField]] = {
    "questionpro": [
        ConnectField(
            "datacenter",
            "Datacenter",
            "select",
            options={key: label for key, (label, _) in QUESTIONPRO_DATACENTERS.items()},
            hint="The domain you log in to QuestionPro on.",
        ),
        ConnectField("api_key", "API key", "secret", hint="QuestionPro → Integrations → API key."),
        ConnectField(
            "workspace_id",
            "Closed Loop workspace id",
            optional=True,
            hint="Only if your account uses Closed Loop: alerts then read its tickets.",
        ),
    ],
    "epixel": [
        ConnectField(
            "base_url",
            "API base URL",
            "url",
            placeholder="https://support.example.com/api/v1",
            hint="https://<domain>/<api prefix>/<version>",
        ),
        ConnectField("api_key", "API key", "secret"),
        ConnectField("access_token", "Access token", "secret", optional=True, hint=_EITHER_HINT),
        ConnectField("username", "Username", optional=True),
        ConnectField("password", "Password", "secret", optional=True),
    ],
    "omnidesk": [
        ConnectField(
            "base_url",
            "API base URL",
            "url",
            placeholder="https://youraccount.omnidesk.com/api/v2",
            hint="Your account's address followed by /api/v2.",
        ),
        ConnectField(
            "api_key",
            "API key",
            "secret",
            hint="Omnidesk → Settings → API keys; give it the ticket permissions you need.",
        ),
    ],
    "ispcrm": [
        ConnectField(
            "base_url", "API base URL", "url", placeholder="https://crm.example-isp.com/api/v1"
        ),
        ConnectField("token", "Subscriber token", "secret", optional=True, hint=_EITHER_HINT),
        ConnectField("username", "Username", optional=True),
        ConnectField("password", "Password", "secret", optional=True),
    ],
}


def account_key(creds: Credentials) -> str:
    """Which backend account ``creds`` reach, as a short stable key: a ticket id means one
    ticket only within one account, so watches, seen-states and thread links carry this beside
    ``backend:id``. QuestionPro's account is its datacenter (the key names the account); the
    others' is their base URL, normalised (scheme and host lower-cased, no trailing slash)."""
    if isinstance(creds, QuestionProCredentials):
        where = f"questionpro:{creds.datacenter}"
    else:
        parts = urlsplit(creds.base_url.strip())
        path = parts.path.rstrip("/")
        where = f"{creds.backend}:{parts.scheme.lower()}://{parts.netloc.lower()}{path}"
    return hashlib.sha256(where.encode()).hexdigest()[:12]


def backend_keys() -> list[str]:
    """Every backend key, in display order."""
    return list(CREDENTIAL_MODELS)


def check_backend(key: str) -> str:
    """Return ``key`` normalised, or raise UnknownBackendError naming the valid ones."""
    normalised = key.strip().lower()
    if normalised not in CREDENTIAL_MODELS:
        raise UnknownBackendError(
            f"`{escape(key)}` is not a backend I know. Use one of: {', '.join(backend_keys())}."
        )
    return normalised


class CredentialInputError(Exception):
    """Per-field messages from validating connect-modal input."""

    def __init__(self, fields: dict[str, str]) -> None:
        self.fields = fields
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))


def parse_credentials(
    backend: str, values: dict[str, Any], *, policy: AddressPolicy | None = None
) -> Credentials:
    """Validate raw modal values into the backend's credentials model, or raise per-field errors.
    ``policy`` (the operator's allowlist; none allowed when omitted) judges the base URL."""
    model = CREDENTIAL_MODELS[check_backend(backend)]
    cleaned = {k: v for k, v in values.items() if v not in (None, "")}
    fields: dict[str, str] = {}
    try:
        creds = model.model_validate(cleaned)
    except ValidationError as exc:
        fields = _field_messages(exc, model)
    base_url = cleaned.get("base_url")
    if "base_url" in model.model_fields and isinstance(base_url, str) and "base_url" not in fields:
        try:
            (policy or AddressPolicy()).check_base_url(base_url.strip())
        except ValueError as exc:
            fields["base_url"] = str(exc)
    if fields:
        raise CredentialInputError(fields)
    return creds  # type: ignore[return-value]


def credentials_from_store(data: dict[str, Any]) -> Credentials:
    """Rebuild credentials from their decrypted stored form."""
    return CREDENTIAL_MODELS[data["backend"]].model_validate(data)  # type: ignore[return-value]


def _field_messages(exc: ValidationError, model: type[_Credentials]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for error in exc.errors(include_url=False, include_input=False):
        message = error["msg"].removeprefix("Value error, ")
        name = str(error["loc"][0]) if error["loc"] else ""
        if not name and ": " in message:  # model-level rules name their field first
            name, message = message.split(": ", 1)
        if error["type"] == "missing":
            message = "This field is required."
        elif error["type"] == "literal_error":
            message = "Pick one of the options."
        if name not in model.model_fields:
            name = next(iter(model.model_fields))
        fields.setdefault(name, message)
    return fields
