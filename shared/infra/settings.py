"""Configuration from environment variables (the names are a contract; README.md, "Configuration")."""

from __future__ import annotations

from datetime import time
from functools import cached_property
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Literal

from cryptography.fernet import Fernet
from limits import parse as parse_limit
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.contracts.closed_days import DEFAULT_CLOSING_DAYS, ClosedDays, parse_closing_days

MIN_ADMIN_TOKEN = 32
# Placeholders from examples and templates (".env.example", Kubernetes secrets) that must never run.
PLACEHOLDER_MARKERS = ("CHANGE-ME", "CHANGEME", "REPLACE-ME", "EXAMPLE", "PLACEHOLDER")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    mongodb_url: str = "mongodb://127.0.0.1:27017/?directConnection=true"
    mongodb_db: str = "inspiration"
    # Limits on every database operation (and on finding a reachable server): fail, never hang.
    mongodb_timeout_ms: int = Field(default=10_000, ge=100)
    mongodb_server_selection_timeout_ms: int = Field(default=5_000, ge=100)
    # Wait for the journal before a write counts as done (the write concern's ``j``).
    mongodb_journal: bool = True
    # Count every database command at /metrics (inspiration_db_commands_total; shared/infra/dbmetrics.py).
    mongodb_command_metrics: bool = False
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"

    booking_port: int = 8080
    scheduler_port: int = 8081
    notifier_port: int = 8082
    http_host: str = "0.0.0.0"
    public_base_url: str = "http://127.0.0.1:8080"
    # Base URL of the scheduler as consultants' calendar programs reach it (for the feed links).
    scheduler_public_url: str | None = None

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    # STARTTLS: None (the default) upgrades whenever the server offers it; true requires it; false never.
    smtp_starttls: bool | None = None
    # Implicit TLS from the first byte (port 465); then STARTTLS does not apply.
    smtp_tls: bool = False
    mail_from: str = "booking@socialpaedagogerne-oestjylland.example"
    # SMTP connections the notifier keeps open and reuses (each carries one message at a time).
    smtp_pool_size: int = Field(default=4, ge=1)

    sms_provider: Literal["log", "gatewayapi"] = "log"
    sms_api_url: str = "https://gatewayapi.eu/rest/mtsms"
    sms_api_token: SecretStr | None = None
    sms_sender: str = "SLOestjyl"
    # Countries whose numbers may be given (and get SMS), as ISO codes: a number elsewhere is refused at
    # intake (no SMS pumping or smishing in the organisation's name to numbers abroad).
    sms_countries: tuple[str, ...] = ("DK",)

    # Bearer token of the admin APIs (and the admin pages' password): at least 32 characters, never
    # a placeholder. Unset: admin routes answer 503.
    admin_token: SecretStr | None = None
    # The back office's session cookies are encrypted with this Fernet key (32 url-safe base64 bytes).
    # Unset: the back office answers 503 (``python -m dev`` makes one).
    session_key: SecretStr | None = None
    admin_session_idle_minutes: float = Field(default=30.0, gt=0)  # signed out after this long unused
    admin_session_max_hours: float = Field(default=12.0, gt=0)  # and this long after signing in, whatever
    # The back office's "needs attention": a request waiting this long for an answer to alternatives.
    attention_after_days: int = Field(default=3, ge=0)
    # Served on its own port, /metrics and the dead-letter routes are not on the public one at all;
    # unset, they stay on the service's port and need the admin token.
    ops_port: int | None = None

    # Limits on what an anonymous caller can trigger ("N/second|minute|hour|day", or "off"; see
    # shared/infra/ratelimit.py); counted in MongoDB, so shared by all replicas.
    rate_limit_per_address: str = "20/hour"  # new bookings per client address
    rate_limit_per_email: str = "5/day"  # new bookings per contact e-mail
    rate_limit_changes_per_booking: str = "10/day"  # moves and cancellations of one booking
    rate_limit_availability_per_address: str = "120/minute"  # looks at the free times
    rate_limit_admin_failures: str = "10/15 minutes"  # wrong admin credentials per address
    rate_limit_sign_in_failures: str = "10/15 minutes"  # failed sign-ins to the back office per address
    # Proxies whose X-Forwarded-For is believed (CIDRs); the caller's address is the last one not in them.
    trusted_proxies: tuple[str, ...] = ()
    consultants_file: str | None = None
    # How long a scheduler places talks with the consultants as it read them: a change made through
    # another replica counts there after at most this long (through this one, at once). 0: read each time.
    consultants_cache_seconds: float = Field(default=5.0, ge=0)
    log_level: str = "INFO"

    # Booking rules (services/booking/domain.py).
    min_notice_days: int = Field(default=14, ge=0)
    max_ahead_days: int = Field(default=365, ge=1)
    bookable_from: time = time(8, 0)
    bookable_until: time = time(17, 0)
    # The organisation's closing days besides Denmark's public holidays (shared/contracts/closed_days.py):
    # recurring MM-DD and one-off YYYY-MM-DD entries, each with an optional =Name.
    closing_days: str = DEFAULT_CLOSING_DAYS

    # Free times (the booking form and GET /api/v1/availability), computed by the scheduler.
    scheduler_url: str = "http://127.0.0.1:8081"  # the scheduler as the booking service reaches it
    scheduler_timeout_seconds: float = Field(default=3.0, gt=0)
    notifier_url: str = "http://127.0.0.1:8082"  # the notifier as the booking service reaches it (exports)

    # Personal data: erased this long after the talk took place, or after the booking was cancelled or
    # last changed without a talk; rendered bodies of sent mail much sooner (what was sent stays listed).
    retention_days: int = Field(default=365, ge=1)
    mail_body_retention_days: int = Field(default=30, ge=1)
    processed_events_retention_days: int = Field(default=30, ge=1)  # the consumers' record of handled event ids
    retention_check_seconds: float = Field(default=3600.0, gt=0)  # how often the retention rules run
    availability_max_days: int = Field(default=42, ge=1, le=366)  # the longest window one request may ask for
    # How long the scheduler keeps a computed answer; it is used only while the consultants, their days
    # and their own calendars' busy times are still exactly those it was computed from.
    availability_cache_seconds: float = Field(default=60.0, ge=0)
    # After a free time picked on the form, how long the receipt waits for the scheduler's outcome.
    receipt_wait_seconds: float = Field(default=3.0, ge=0, le=30)

    # The waitlist (docs/waitlist.md): how long an offer of a freed time stands before it passes to the
    # next in line, and how often the scheduler looks for free times for every waiting request besides
    # the times freed by cancellations and moves (catches consultants added or given more hours).
    waitlist_offer_hours: float = Field(default=24.0, gt=0)
    waitlist_sweep_seconds: float = Field(default=300.0, gt=0)

    # Messaging and outbox tuning.
    outbox_lease_seconds: float = 30.0
    outbox_poll_seconds: float = 1.0
    retry_delays_ms: tuple[int, ...] = (1_000, 5_000, 30_000)
    prefetch_count: int = 32
    # How long a publish may wait for the broker's confirm (a blocked broker must not hang anyone).
    publish_timeout_seconds: float = 10.0
    # Longest pause between attempts at a message while MongoDB or RabbitMQ is away.
    unavailable_max_wait_seconds: float = 30.0
    shutdown_timeout_seconds: float = 20.0
    # How long a starting service waits for MongoDB and RabbitMQ to answer before it exits non-zero.
    startup_wait_seconds: float = Field(default=120.0, ge=0)

    # Consultants' own calendars (docs/calendars.md).
    # Fernet key(s), comma-separated: the first seals CalDAV passwords, all open them. Unset: only
    # feeds without credentials can be added.
    calendar_key: SecretStr | None = None
    calendar_refresh_seconds: float = Field(default=300.0, gt=0)  # how often each source is read
    calendar_fetch_timeout_seconds: float = Field(default=20.0, gt=0)  # for one whole read
    calendar_max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)  # larger calendars are refused
    # Without a good read for this long a source is stale; then, with "busy", its consultant is
    # treated as busy on every day a search looks at (also before its first good read); with
    # "keep", only its last known busy times count.
    calendar_stale_after_minutes: float = Field(default=360.0, gt=0)
    calendar_when_stale: Literal["busy", "keep"] = "busy"

    reminder_before_hours: int = 72
    # Notifier: waits between attempts at a delivery that failed for a passing reason; then it is failed.
    delivery_retry_seconds: tuple[float, ...] = (5, 30, 120, 600, 1800, 3600, 3600, 3600)
    delivery_poll_seconds: float = 1.0
    # Messages the notifier sends at once (e-mail and SMS together).
    delivery_concurrency: int = Field(default=8, ge=1)

    @field_validator("admin_token")
    @classmethod
    def _strong_admin_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        token = value.get_secret_value()
        if len(token) < MIN_ADMIN_TOKEN or any(marker in token.upper() for marker in PLACEHOLDER_MARKERS):
            raise ValueError(
                f"ADMIN_TOKEN must be a secret of at least {MIN_ADMIN_TOKEN} characters and not a placeholder "
                "(make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        return value

    @field_validator("session_key")
    @classmethod
    def _fernet_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        try:
            Fernet(value.get_secret_value())
        except ValueError:
            raise ValueError(
                "SESSION_KEY must be a Fernet key, 32 url-safe base64-encoded bytes (make one with: "
                "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
            ) from None
        return value

    @field_validator(
        "rate_limit_per_address",
        "rate_limit_per_email",
        "rate_limit_changes_per_booking",
        "rate_limit_availability_per_address",
        "rate_limit_admin_failures",
        "rate_limit_sign_in_failures",
    )
    @classmethod
    def _limit(cls, value: str) -> str:
        if value.strip().lower() != "off":
            parse_limit(value)  # "20/hour"; raises ValueError with the reason
        return value

    @field_validator("closing_days")
    @classmethod
    def _closing_days(cls, value: str) -> str:
        parse_closing_days(value)  # raises ValueError naming the entry that is wrong
        return value

    @cached_property
    def closed_days(self) -> ClosedDays:
        return ClosedDays.from_setting(self.closing_days)

    @cached_property
    def admin_token_value(self) -> str | None:
        return self.admin_token.get_secret_value() if self.admin_token else None

    @cached_property
    def proxies(self) -> tuple[IPv4Network | IPv6Network, ...]:
        return tuple(ip_network(proxy, strict=False) for proxy in self.trusted_proxies)
