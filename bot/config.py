"""Every setting ticketbot reads, in one pydantic-settings class.

Values come from the environment or an optional ``.env`` file in the working directory. Secrets are
``SecretStr`` so they never show up in a repr, a log line or a traceback.
"""

from __future__ import annotations

import re
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs
from pydantic import AliasChoices, Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.errors import ConfigError
from bot.netguard import AddressPolicy

# Values people paste from docs instead of real secrets; refusing them early beats a 401 later.
_PLACEHOLDER = re.compile(
    r"^(xox[a-z]-|xapp-)?(\.\.\.|…|<.*>|your[-_ ].*|changeme|placeholder|x+|not[-_ ]a[-_ ]\w+)$",
    re.I,
)

# Each Slack token's prefix, and what a value with another one was probably copied from.
_TOKEN_SHAPES = {
    "slack_bot_token": ("xoxb-", "the Bot User OAuth Token, from OAuth & Permissions"),
    "slack_app_token": ("xapp-", "an app-level token, from Basic Information → App-Level Tokens"),
}

# Where each required secret lives in Slack's app settings, for the start-up message.
_WHERE = {
    "SLACK_BOT_TOKEN": "Slack app settings → OAuth & Permissions → Bot User OAuth Token (xoxb-…)",
    "SLACK_SIGNING_SECRET": "Slack app settings → Basic Information → Signing Secret",
    "SLACK_APP_TOKEN": "Slack app settings → Basic Information → App-Level Tokens "
    "(xapp-…, scope connections:write)",
    "SLACK_CLIENT_ID": "Slack app settings → Basic Information → App Credentials → Client ID",
    "SLACK_CLIENT_SECRET": "Slack app settings → Basic Information → App Credentials → "
    "Client Secret",
}

# The bot scopes of manifest.yml (a test keeps the two equal): what an OAuth install asks for.
MANIFEST_BOT_SCOPES = (
    "commands,chat:write,channels:history,groups:history,chat:write.public,files:read,"
    "files:write,im:write,users:read,usergroups:read,channels:read,groups:read,reactions:write"
)


def _env(name: str) -> AliasChoices:
    # Accept the environment name and the Python field name, so tests can pass keywords.
    return AliasChoices(name, name.lower())


class Settings(BaseSettings):
    """ticketbot's configuration. See README.md, "Settings", for each value."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    slack_bot_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_BOT_TOKEN"))
    slack_signing_secret: SecretStr | None = Field(
        None, validation_alias=_env("SLACK_SIGNING_SECRET")
    )
    slack_app_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_APP_TOKEN"))
    slack_api_url: str = Field("https://slack.com/api/", validation_alias=_env("SLACK_API_URL"))
    # Multi-workspace installs (OAuth, bot/oauth.py): both set and SLACK_BOT_TOKEN unset.
    slack_client_id: str | None = Field(None, validation_alias=_env("SLACK_CLIENT_ID"))
    slack_client_secret: SecretStr | None = Field(
        None, validation_alias=_env("SLACK_CLIENT_SECRET")
    )
    slack_scopes: str = Field(MANIFEST_BOT_SCOPES, validation_alias=_env("SLACK_SCOPES"))
    # Where Slack reaches this bot; the OAuth redirect URI is <public_url>/slack/oauth_redirect.
    public_url: str | None = Field(
        None, validation_alias=AliasChoices("TICKETBOT_PUBLIC_URL", "public_url")
    )
    oauth_state_seconds: int = Field(
        600,
        ge=60,
        le=86400,
        validation_alias=AliasChoices("TICKETBOT_OAUTH_STATE_SECONDS", "oauth_state_seconds"),
    )

    data_dir: Path = Field(
        default_factory=lambda: Path(platformdirs.user_data_dir("ticketbot")),
        validation_alias=AliasChoices("TICKETBOT_DATA_DIR", "data_dir"),
    )
    secret_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("TICKETBOT_SECRET_KEY", "secret_key")
    )
    # Set: every piece of state lives in this PostgreSQL database instead of TICKETBOT_DATA_DIR.
    # A secret: the URL usually carries the password.
    database_url: SecretStr | None = Field(
        None, validation_alias=AliasChoices("TICKETBOT_DATABASE_URL", "database_url")
    )
    questionpro_base_url: str | None = Field(
        None,
        validation_alias=AliasChoices("TICKETBOT_QUESTIONPRO_BASE_URL", "questionpro_base_url"),
    )
    questionpro_clf_base_url: str | None = Field(
        None,
        validation_alias=AliasChoices(
            "TICKETBOT_QUESTIONPRO_CLF_BASE_URL", "questionpro_clf_base_url"
        ),
    )
    # transactionDate: the v2 import page's example is day-first (14/01/2020), the v1 page says
    # mm/dd/yyyy; day-first stays the default, one setting changes it (README, open facts).
    questionpro_date_format: str = Field(
        "%d/%m/%Y",
        validation_alias=AliasChoices(
            "TICKETBOT_QUESTIONPRO_DATE_FORMAT", "questionpro_date_format"
        ),
    )
    # Days a subscription may see no detractor before its channel is told the other QuestionPro
    # source (Closed Loop or detractors) has some.
    questionpro_quiet_days: float = Field(
        14.0,
        gt=0,
        validation_alias=AliasChoices("TICKETBOT_QUESTIONPRO_QUIET_DAYS", "questionpro_quiet_days"),
    )

    backend_allowlist: str = Field(
        "",
        validation_alias=AliasChoices("TICKETBOT_BACKEND_ALLOWLIST", "backend_allowlist"),
    )

    questionpro_calls_per_minute: int = Field(
        300,
        ge=1,
        validation_alias=AliasChoices(
            "TICKETBOT_QUESTIONPRO_CALLS_PER_MINUTE", "questionpro_calls_per_minute"
        ),
    )
    http_connect_timeout: float = Field(
        5.0,
        gt=0,
        validation_alias=AliasChoices("TICKETBOT_CONNECT_TIMEOUT", "http_connect_timeout"),
    )
    http_read_timeout: float = Field(
        20.0, gt=0, validation_alias=AliasChoices("TICKETBOT_READ_TIMEOUT", "http_read_timeout")
    )
    retry_attempts: int = Field(
        4, ge=1, le=10, validation_alias=AliasChoices("TICKETBOT_RETRY_ATTEMPTS", "retry_attempts")
    )
    retry_max_seconds: float = Field(
        30.0,
        gt=0,
        validation_alias=AliasChoices("TICKETBOT_RETRY_MAX_SECONDS", "retry_max_seconds"),
    )
    list_timeout: float = Field(
        5.0, gt=0, validation_alias=AliasChoices("TICKETBOT_LIST_TIMEOUT", "list_timeout")
    )
    home_cache_seconds: float = Field(
        120.0,
        ge=0,
        validation_alias=AliasChoices("TICKETBOT_HOME_CACHE_SECONDS", "home_cache_seconds"),
    )
    poll_interval: float | None = Field(
        None, gt=0, validation_alias=AliasChoices("TICKETBOT_POLL_INTERVAL", "poll_interval")
    )
    # Watched tickets: each is checked this often (one schedule per ticket, shared by its
    # watchers); Epixel's comments and tags need one call per ticket, so they are read on every
    # ``watch_full_every``-th check and the cheap listing serves the checks between.
    watch_interval: float = Field(
        300.0, gt=0, validation_alias=AliasChoices("TICKETBOT_WATCH_INTERVAL", "watch_interval")
    )
    watch_full_every: int = Field(
        3, ge=1, validation_alias=AliasChoices("TICKETBOT_WATCH_FULL_EVERY", "watch_full_every")
    )
    sweep_interval: float = Field(
        86400.0, gt=0, validation_alias=AliasChoices("TICKETBOT_SWEEP_INTERVAL", "sweep_interval")
    )
    link_check_interval: float = Field(
        120.0,
        gt=0,
        validation_alias=AliasChoices("TICKETBOT_LINK_CHECK_INTERVAL", "link_check_interval"),
    )
    digest_threshold: int = Field(
        10, ge=1, validation_alias=AliasChoices("TICKETBOT_DIGEST_THRESHOLD", "digest_threshold")
    )
    # A subscription whose backend stays unreachable this many failed polls in a row, or this
    # many minutes, DMs its subscriber once that it stopped delivering (bot.poll_base).
    outage_dm_polls: int = Field(
        3, ge=1, validation_alias=AliasChoices("TICKETBOT_OUTAGE_DM_POLLS", "outage_dm_polls")
    )
    outage_dm_minutes: float = Field(
        30.0,
        gt=0,
        validation_alias=AliasChoices("TICKETBOT_OUTAGE_DM_MINUTES", "outage_dm_minutes"),
    )
    channel_post_interval: float = Field(
        1.0,
        ge=0,
        validation_alias=AliasChoices("TICKETBOT_CHANNEL_POST_INTERVAL", "channel_post_interval"),
    )
    import_chunk_size: int = Field(
        1000,
        ge=1,
        le=10_000,
        validation_alias=AliasChoices("TICKETBOT_IMPORT_CHUNK", "import_chunk_size"),
    )
    import_max_bytes: int = Field(
        20 * 1024 * 1024,
        ge=1,
        validation_alias=AliasChoices("TICKETBOT_IMPORT_MAX_BYTES", "import_max_bytes"),
    )
    import_keep_hours: float = Field(
        72.0,
        gt=0,
        validation_alias=AliasChoices("TICKETBOT_IMPORT_KEEP_HOURS", "import_keep_hours"),
    )
    progress_interval: float = Field(
        1.0, ge=0, validation_alias=AliasChoices("TICKETBOT_PROGRESS_INTERVAL", "progress_interval")
    )
    # Omnidesk's created_at carries no zone (https://docs.omnidesk.io/app/ticket): one zone for all.
    omnidesk_timezone: str = Field(
        "UTC", validation_alias=AliasChoices("TICKETBOT_OMNIDESK_TIMEZONE", "omnidesk_timezone")
    )
    # The audit trail keeps this many days of lines (older ones are pruned at start and daily).
    audit_days: int = Field(
        365, ge=1, validation_alias=AliasChoices("TICKETBOT_AUDIT_DAYS", "audit_days")
    )
    # Members of this Slack user group (its handle, e.g. support-leads) read everyone's audit
    # trail, as workspace admins do; unset: only admins.
    audit_group: str | None = Field(
        None, validation_alias=AliasChoices("TICKETBOT_AUDIT_GROUP", "audit_group")
    )
    log_level: str = Field(
        "INFO", validation_alias=AliasChoices("TICKETBOT_LOG_LEVEL", "log_level")
    )

    @field_validator(
        "slack_bot_token",
        "slack_signing_secret",
        "slack_app_token",
        "secret_key",
        "slack_client_secret",
    )
    @classmethod
    def _no_placeholders(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and _PLACEHOLDER.match(value.get_secret_value().strip()):
            raise ValueError("looks like a placeholder from the docs, not a real value")
        if value is not None and not value.get_secret_value().strip():
            return None
        return value

    @field_validator("slack_bot_token", "slack_app_token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        prefix, what = _TOKEN_SHAPES[str(info.field_name)]
        if value is not None and not value.get_secret_value().strip().startswith(prefix):
            # Never echo the value: it may be a real secret pasted into the wrong variable.
            raise ValueError(f"must start with {prefix} (it is {what})")
        return value

    @field_validator("backend_allowlist")
    @classmethod
    def _allowlist_parses(cls, value: str) -> str:
        AddressPolicy.parse(value)  # a typo should stop start-up, not silently allow nothing
        return value

    @property
    def address_policy(self) -> AddressPolicy:
        """Which non-public backend hosts the operator allowed (TICKETBOT_BACKEND_ALLOWLIST)."""
        return AddressPolicy.parse(self.backend_allowlist)

    @field_validator("questionpro_date_format")
    @classmethod
    def _date_format(cls, value: str) -> str:
        # Must name day, month and year, or imported dates lose information.
        if not all(part in value for part in ("%d", "%m", "%Y")):
            raise ValueError("must contain %d, %m and %Y, for example %d/%m/%Y")
        return value

    @field_validator("slack_client_id")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("audit_group")
    @classmethod
    def _group_handle(cls, value: str | None) -> str | None:
        # People write a group the way Slack shows it, "@support-leads".
        return (value.strip().lstrip("@").strip() or None) if value is not None else None

    @field_validator("slack_scopes")
    @classmethod
    def _scope_list(cls, value: str) -> str:
        scopes = [part.strip() for part in value.split(",") if part.strip()]
        if not scopes:
            raise ValueError("must name at least one bot scope, comma-separated")
        return ",".join(scopes)

    @field_validator(
        "slack_api_url", "questionpro_base_url", "questionpro_clf_base_url", "public_url"
    )
    @classmethod
    def _trailing_slash(cls, value: str | None) -> str | None:
        # Base URLs are joined with relative paths, which needs exactly one trailing slash.
        if value is None or not value.strip():
            return None
        return value.strip().rstrip("/") + "/"

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        url = value.get_secret_value().strip()
        if not url.startswith(("postgresql://", "postgres://")):
            # Never echo the value: it usually holds a password.
            raise ValueError("must be a postgresql://user:password@host:port/database URL")
        return SecretStr(url)

    @field_validator("omnidesk_timezone")
    @classmethod
    def _zone_name(cls, value: str) -> str:
        try:
            ZoneInfo(value.strip())
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not an IANA time zone name; write one like UTC or Europe/Amsterdam"
            ) from None
        return value.strip()

    def require(self, *env_names: str) -> None:
        """Raise ConfigError naming the first missing setting and where to find its value."""
        for name in env_names:
            if getattr(self, self.field_for(name)) is None:
                raise ConfigError(
                    f"{name} is not set: export it or add it to .env ({self.where(name)})."
                )

    @staticmethod
    def where(env_name: str) -> str:
        """Where the value of ``env_name`` comes from, for messages that ask for it."""
        return _WHERE.get(env_name, "see README.md, Settings")

    @classmethod
    def field_for(cls, env_name: str) -> str:
        """The attribute that an environment variable such as TICKETBOT_DATA_DIR sets."""
        for field_name, info in cls.model_fields.items():
            alias = info.validation_alias
            if isinstance(alias, AliasChoices) and alias.choices[0] == env_name:
                return field_name
        raise KeyError(env_name)

    @classmethod
    def env_name(cls, field_name: str) -> str:
        """The environment variable that sets ``field_name``."""
        alias = cls.model_fields[field_name].validation_alias
        return str(alias.choices[0]) if isinstance(alias, AliasChoices) else field_name.upper()

    @property
    def oauth_enabled(self) -> bool:
        """Whether ``serve`` installs into many workspaces through OAuth (no SLACK_BOT_TOKEN;
        ``require_one_token_mode`` has checked that the settings choose one mode)."""
        return self.slack_bot_token is None and (
            self.slack_client_id is not None or self.slack_client_secret is not None
        )

    def require_one_token_mode(self) -> None:
        """ConfigError unless the settings choose one of: one workspace's bot token, or OAuth
        with both the client id and secret."""
        oauth = self.slack_client_id is not None or self.slack_client_secret is not None
        if oauth and self.slack_bot_token is not None:
            raise ConfigError(
                "SLACK_BOT_TOKEN and SLACK_CLIENT_ID/SLACK_CLIENT_SECRET are both set: unset "
                "SLACK_BOT_TOKEN to install into several workspaces through OAuth, or unset the "
                "client id and secret to run in the one workspace of that token."
            )
        if oauth:
            self.require("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET")
        else:
            self.require("SLACK_BOT_TOKEN")

    @property
    def secret_key_file(self) -> Path:
        """Where a generated encryption key lives when TICKETBOT_SECRET_KEY is not set."""
        return self.data_dir / "secret.key"

    @property
    def store_file(self) -> Path:
        """The sqlite file holding credentials, subscriptions and the alert ledger."""
        return self.data_dir / "ticketbot.sqlite"

    @property
    def oauth_file(self) -> Path:
        """The sqlite file of slack_sdk's installation and OAuth state stores (OAuth mode)."""
        return self.data_dir / "slack_installations.sqlite"
