"""Configuration: one frozen dataclass read from the environment and `.env` (DESIGN §7).

Values set in the environment win over the same names in `.env`. An empty value counts as unset.
A missing or malformed setting raises ConfigError, whose text is one line naming the variable and
what it should look like — never the value itself, which may be a secret.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from dotenv import dotenv_values

from bot.domain.grammar import Mode, ParseError, Spec, parse_spec
from bot.domain.vendors import AIDGE, AILAB, PICWISH, ROUTE_NAMES

ROUTE_ENGINES = tuple(ROUTE_NAMES)
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class ConfigError(Exception):
    """A setting is missing or malformed; the text names the variable, never its value."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable} {problem}")
        self.variable = variable


@dataclass(frozen=True, slots=True)
class Config:
    slack_bot_token: str | None = field(default=None, repr=False)
    slack_app_token: str | None = field(default=None, repr=False)
    slack_signing_secret: str | None = field(default=None, repr=False)
    slack_api_url: str = "https://slack.com/api/"
    port: int = 3000
    host: str = "0.0.0.0"  # noqa: S104 - Slack must reach HTTP mode
    ailab_api_key: str | None = field(default=None, repr=False)
    ailab_base_url: str = "https://www.ailabapi.com"
    aidge_app_key: str | None = None
    aidge_app_secret: str | None = field(default=None, repr=False)
    aidge_base_url: str = "https://api.aidc-ai.com/rest"
    aidge_trial: bool = False
    picwish_api_key: str | None = field(default=None, repr=False)
    picwish_base_url: str = "https://techhk.aoscdn.com"
    ailab_concurrency: int = 3  # AILabTools' SDK advises starting at 3 calls at once
    ailab_qps: float | None = None  # None: no request-rate limit
    aidge_concurrency: int = 4
    aidge_qps: float | None = None
    picwish_concurrency: int = 4
    picwish_qps: float = 2.0  # PicWish's default limit: 2 requests a second
    picwish_poll_interval_s: float = 1.0  # first wait between polls; grows by half each time
    picwish_poll_deadline_s: float = 120.0
    db_path: Path = Path("cutout.db")
    database_url: str | None = field(
        default=None, repr=False
    )  # PostgreSQL, for a fleet; None: SQLite at db_path
    lease_s: float = 60.0  # a claimed task is another instance's to take over after this without a renewal
    data_dir: Path = Path("cutout-data")
    default_spec: Spec = field(default_factory=lambda: Spec(Mode.PRODUCT))
    allow_private_urls: bool = False
    workers: int = 4
    image_threads: int = 1  # heavy image steps at once; each holds up to ~150 MB at 12 megapixels
    retry_attempts: int = 4  # vendor calls at most, per step
    retry_base_s: float = 1.0  # the first backoff; then 2×, 4×… with jitter
    vendor_timeout_s: float = 60.0  # one vendor request, connect to last byte
    max_file_mb: float = 50.0  # a file downloaded or uploaded
    max_queue: int = 500  # queued tasks; past it, new images are turned away with a message
    retention_days: float = 30.0  # finished tasks and their files are forgotten after this
    shutdown_grace_s: float = 10.0  # on SIGTERM/SIGINT, how long running steps may take to finish
    download_timeout_s: float = 120.0  # a whole download (Slack file, URL, vendor result), first byte to last
    max_attempts: int = 3  # times a task may be interrupted before it is failed instead of run again
    local_model: Path | None = None  # an ONNX model of the U²-Net family for the local engine
    log_level: str = "INFO"
    routes: Mapping[Mode, tuple[str, ...]] | None = None  # CUTOUT_ROUTES: engines to try per mode, in order
    breaker_s: float = 600.0  # a vendor that said "no credits" or "bad key" is left out this long
    admins: frozenset[str] = frozenset()  # Slack user ids who may change settings (besides Slack's admins)
    # What one image costs at each vendor, for the usage report's estimate (US dollars):
    ailab_price: float = 0.003  # 1 credit a call; credits cost $0.0025–0.0030 (AILabTools' billing page)
    aidge_price: float = 0.01  # not published that we could find: an estimate, set your own
    picwish_price: float = 0.05  # clothing segmentation is 3 credits a call (picwish.com/credit-cost); a
    # credit's price depends on the pack bought: an estimate, set your own

    @property
    def prices(self) -> dict[str, float]:
        """Each vendor's price of one image (the usage report's estimate)."""
        return {AILAB: self.ailab_price, AIDGE: self.aidge_price, PICWISH: self.picwish_price}

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1_000_000)

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret value set, for redaction."""
        values = (
            self.slack_bot_token,
            self.slack_app_token,
            self.slack_signing_secret,
            self.ailab_api_key,
            self.aidge_app_secret,
            self.picwish_api_key,
            *_database_passwords(self.database_url),
        )
        return tuple(v for v in values if v)

    @property
    def database(self) -> str | Path:
        """Where the store lives: the PostgreSQL URL, or the SQLite file."""
        return self.database_url or self.db_path

    def require_slack(self) -> None:
        """Raise ConfigError unless the settings needed to run the bot are present."""
        if not self.slack_bot_token:
            raise ConfigError(
                "SLACK_BOT_TOKEN",
                "is not set: give the bot token (xoxb-…) from your Slack app's OAuth & Permissions page",
            )
        if not self.socket_mode and not self.slack_signing_secret:
            raise ConfigError(
                "SLACK_SIGNING_SECRET",
                "is not set: HTTP mode needs the signing secret from your Slack app's Basic Information page "
                "(or set SLACK_APP_TOKEN=xapp-… to run in Socket Mode)",
            )

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, env_file: Path | None = Path(".env")
    ) -> Config:
        """The settings from `environ` (the process's environment by default) over `env_file`: one line a
        variable, each read and checked by `_Reader`, which names the variable in its error."""
        read = _Reader(_environment(environ, env_file))
        defaults = cls()
        aidge_key, aidge_secret = _aidge_pair(read)
        return cls(
            slack_bot_token=read.token("SLACK_BOT_TOKEN", "xoxb-", "a bot token"),
            slack_app_token=read.token("SLACK_APP_TOKEN", "xapp-", "an app-level token"),
            slack_signing_secret=read.secret("SLACK_SIGNING_SECRET"),
            slack_api_url=read.url("SLACK_API_URL", defaults.slack_api_url, trailing_slash=True),
            port=read.integer("PORT", defaults.port, low=0, high=65535),
            host=read.text("CUTOUT_HOST") or defaults.host,
            ailab_api_key=read.secret("AILAB_API_KEY"),
            ailab_base_url=read.url("AILAB_BASE_URL", defaults.ailab_base_url),
            aidge_app_key=aidge_key,
            aidge_app_secret=aidge_secret,
            aidge_base_url=read.url("AIDGE_BASE_URL", defaults.aidge_base_url),
            aidge_trial=read.boolean("AIDGE_TRIAL", defaults.aidge_trial),
            picwish_api_key=read.secret("PICWISH_API_KEY"),
            picwish_base_url=read.url("PICWISH_BASE_URL", defaults.picwish_base_url),
            ailab_concurrency=read.integer("AILAB_CONCURRENCY", defaults.ailab_concurrency, low=1, high=64),
            ailab_qps=read.optional_number("AILAB_QPS", low=0.1, high=1000),
            aidge_concurrency=read.integer("AIDGE_CONCURRENCY", defaults.aidge_concurrency, low=1, high=64),
            aidge_qps=read.optional_number("AIDGE_QPS", low=0.1, high=1000),
            picwish_concurrency=read.integer(
                "PICWISH_CONCURRENCY", defaults.picwish_concurrency, low=1, high=64
            ),
            picwish_qps=read.number("PICWISH_QPS", defaults.picwish_qps, low=0.1, high=1000),
            picwish_poll_interval_s=read.number(
                "PICWISH_POLL_INTERVAL_S", defaults.picwish_poll_interval_s, low=0.01, high=60
            ),
            picwish_poll_deadline_s=read.number(
                "PICWISH_POLL_DEADLINE_S", defaults.picwish_poll_deadline_s, low=1, high=3600
            ),
            db_path=Path(read.text("CUTOUT_DB_PATH") or defaults.db_path),
            database_url=read.database_url("CUTOUT_DATABASE_URL"),
            lease_s=read.number("CUTOUT_LEASE_S", defaults.lease_s, low=1, high=3600),
            data_dir=Path(read.text("CUTOUT_DATA_DIR") or defaults.data_dir),
            default_spec=read.spec("CUTOUT_DEFAULT_SPEC", defaults.default_spec),
            allow_private_urls=read.boolean("CUTOUT_ALLOW_PRIVATE_URLS", defaults.allow_private_urls),
            workers=read.integer("CUTOUT_WORKERS", defaults.workers, low=1, high=64),
            image_threads=read.integer("CUTOUT_IMAGE_THREADS", defaults.image_threads, low=1, high=32),
            retry_attempts=read.integer("CUTOUT_RETRY_ATTEMPTS", defaults.retry_attempts, low=1, high=10),
            retry_base_s=read.number("CUTOUT_RETRY_BASE_S", defaults.retry_base_s, low=0.001, high=60),
            vendor_timeout_s=read.number(
                "CUTOUT_VENDOR_TIMEOUT_S", defaults.vendor_timeout_s, low=0.1, high=600
            ),
            max_file_mb=read.number("CUTOUT_MAX_FILE_MB", defaults.max_file_mb, low=0.001, high=1024),
            max_queue=read.integer("CUTOUT_MAX_QUEUE", defaults.max_queue, low=1, high=1_000_000),
            retention_days=read.number(
                "CUTOUT_RETENTION_DAYS", defaults.retention_days, low=0.0001, high=3650
            ),
            shutdown_grace_s=read.number(
                "CUTOUT_SHUTDOWN_GRACE_S", defaults.shutdown_grace_s, low=0, high=3600
            ),
            download_timeout_s=read.number(
                "CUTOUT_DOWNLOAD_TIMEOUT_S", defaults.download_timeout_s, low=0.1, high=3600
            ),
            max_attempts=read.integer("CUTOUT_MAX_ATTEMPTS", defaults.max_attempts, low=1, high=100),
            local_model=read.existing_file("CUTOUT_LOCAL_MODEL"),
            log_level=read.choice(
                "CUTOUT_LOG_LEVEL", defaults.log_level, ("DEBUG", "INFO", "WARNING", "ERROR")
            ),
            routes=read.routes("CUTOUT_ROUTES"),
            breaker_s=read.number("CUTOUT_BREAKER_S", defaults.breaker_s, low=1, high=7 * 86400),
            admins=read.user_ids("CUTOUT_ADMINS"),
            ailab_price=read.number("AILAB_PRICE", defaults.ailab_price, low=0, high=100),
            aidge_price=read.number("AIDGE_PRICE", defaults.aidge_price, low=0, high=100),
            picwish_price=read.number("PICWISH_PRICE", defaults.picwish_price, low=0, high=100),
        )


def _environment(environ: Mapping[str, str] | None, env_file: Path | None) -> dict[str, str]:
    """The variables of `env_file` (when there is one), overridden by `environ` or the process's own."""
    values: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ if environ is None else environ)
    return values


def _aidge_pair(read: _Reader) -> tuple[str | None, str | None]:
    """AIDGE_APP_KEY and AIDGE_APP_SECRET: both or neither."""
    key, secret = read.text("AIDGE_APP_KEY"), read.secret("AIDGE_APP_SECRET")
    if (key is None) != (secret is None):
        missing = "AIDGE_APP_SECRET" if secret is None else "AIDGE_APP_KEY"
        raise ConfigError(missing, "is not set: Aidge needs both AIDGE_APP_KEY and AIDGE_APP_SECRET")
    return key, secret


def _database_passwords(url: str | None) -> list[str]:
    """The password a database URL carries, as `user:password@` or as `?password=`."""
    if not url:
        return []
    parts = urlsplit(url)
    return [p for p in (parts.password, *parse_qs(parts.query).get("password", [])) if p]


class _Reader:
    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = values

    def text(self, name: str) -> str | None:
        value = self._values.get(name, "").strip()
        return value or None

    def secret(self, name: str) -> str | None:
        value = self.text(name)
        if value is not None and any(ch.isspace() for ch in value):
            raise ConfigError(name, "contains white space: paste the value alone, with no spaces or quotes")
        return value

    def token(self, name: str, prefix: str, what: str) -> str | None:
        value = self.secret(name)
        if value is not None and not value.startswith(prefix):
            raise ConfigError(name, f"should be {what} that starts with {prefix}")
        return value

    def url(self, name: str, default: str, *, trailing_slash: bool = False) -> str:
        value = self.text(name) or default
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(name, "should be an http(s) URL such as https://example.com/api/")
        if trailing_slash and not value.endswith("/"):
            value += "/"
        if not trailing_slash:
            value = value.rstrip("/")
        return value

    def database_url(self, name: str) -> str | None:
        value = self.text(name)
        if value is not None and urlsplit(value).scheme not in ("postgresql", "postgres"):
            raise ConfigError(
                name, "should be a PostgreSQL URL such as postgresql://user:password@host:5432/cutout"
            )
        return value

    def integer(self, name: str, default: int, *, low: int, high: int) -> int:
        value = self.text(name)
        if value is None:
            return default
        if not (value.isascii() and value.isdigit()) or not low <= int(value) <= high:
            raise ConfigError(name, f"should be a whole number from {low} to {high}")
        return int(value)

    def number(self, name: str, default: float, *, low: float, high: float) -> float:
        value = self.text(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if not low <= number <= high:
            raise ConfigError(name, f"should be a number from {low:g} to {high:g}")
        return number

    def existing_file(self, name: str) -> Path | None:
        value = self.text(name)
        if value is None:
            return None
        path = Path(value).expanduser()
        if not path.is_file():
            raise ConfigError(name, "should be the path of an existing .onnx file")
        return path

    def optional_number(self, name: str, *, low: float, high: float) -> float | None:
        return None if self.text(name) is None else self.number(name, 0.0, low=low, high=high)

    def boolean(self, name: str, default: bool) -> bool:
        value = self.text(name)
        if value is None:
            return default
        if value.casefold() in _TRUE:
            return True
        if value.casefold() in _FALSE:
            return False
        raise ConfigError(name, "should be true or false")

    def routes(self, name: str) -> dict[Mode, tuple[str, ...]] | None:
        """`apparel=ailab,picwish,local;product=aidge,local`: each mode's engines in order (checked against
        what each engine can do when the engines are built)."""
        value = self.text(name)
        if value is None:
            return None
        routes: dict[Mode, tuple[str, ...]] = {}
        for part in filter(None, (chunk.strip() for chunk in value.split(";"))):
            mode_word, _, engines = part.partition("=")
            try:
                mode = Mode(mode_word.strip().casefold())
            except ValueError:
                raise ConfigError(
                    name, f"names {mode_word.strip()!r}, which is not a mode ({', '.join(Mode)})"
                ) from None
            chosen = tuple(e.strip().casefold() for e in engines.split(",") if e.strip())
            unknown = [e for e in chosen if e not in ROUTE_ENGINES]
            if not chosen or unknown or len(set(chosen)) != len(chosen):
                raise ConfigError(
                    name,
                    f"should give each mode a list of engines from {', '.join(ROUTE_ENGINES)}, each once, like "
                    "apparel=ailab,picwish,local;product=aidge,local",
                )
            if mode in routes:
                raise ConfigError(name, f"names {mode.value} twice")
            routes[mode] = chosen
        return routes

    def user_ids(self, name: str) -> frozenset[str]:
        value = self.text(name) or ""
        ids = frozenset(v.strip().upper() for v in value.replace(";", ",").split(",") if v.strip())
        if any(not (i.isascii() and i.isalnum() and i[0] in "UW") for i in ids):
            raise ConfigError(
                name, "should be Slack member ids separated by commas, like U012AB3CD,U045EF6GH"
            )
        return ids

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = (self.text(name) or default).upper()
        if value not in choices:
            raise ConfigError(name, "should be one of " + ", ".join(choices))
        return value

    def spec(self, name: str, default: Spec) -> Spec:
        value = self.text(name)
        if value is None:
            return default
        try:
            return parse_spec(value)
        except ParseError as error:
            raise ConfigError(
                name, f"is not a valid spec such as `apparel tops white`: {error.message}"
            ) from None
