"""Service configuration: a YAML file, then environment variables (12-factor), then
defaults that work against the local Kafka and Redis of scripts/services.sh.

Environment: every field as RATER_<FIELD> (e.g. RATER_GROUP_ID), plus the common
KAFKA_BOOTSTRAP_SERVERS and REDIS_URL. The fields are below, each with why it exists;
docs/configuration.md gives each one's variable, default and when to change it, and
docs/operations.md says how to set them in a deployment.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from rater.errors import Refused

# librdkafka settings that hold a secret: never in `kafka`, which is shown with the
# settings; the SASL password has settings of its own (kafka_password, _file)
KAFKA_SECRET_KEYS = frozenset(
    {
        "sasl.password",
        "ssl.key.password",
        "ssl.keystore.password",
        "ssl.key.pem",
        "sasl.oauthbearer.client.secret",
    }
)


class Topics(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    usage: str = "rater.usage"
    commands: str = "rater.commands"
    charges: str = "rater.charges"
    throttle: str = "rater.throttle"
    notifications: str = "rater.notifications"
    unrated: str = "rater.unrated"
    dead_letter: str = "rater.deadletter"

    def outputs(self) -> list[str]:
        return [self.charges, self.throttle, self.notifications, self.unrated, self.dead_letter]

    def inputs(self) -> list[str]:
        return [self.usage, self.commands]


class Settings(BaseSettings):
    """Everything `rater run` and the tools around it need to know."""

    model_config = SettingsConfigDict(
        env_prefix="RATER_",
        frozen=True,
        extra="forbid",
        env_nested_delimiter="__",
        hide_input_in_errors=True,  # an error must not show a secret it was given
    )

    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092",
        validation_alias=AliasChoices(
            "KAFKA_BOOTSTRAP_SERVERS", "RATER_KAFKA_BOOTSTRAP_SERVERS", "kafka_bootstrap_servers"
        ),
    )
    redis_url: SecretStr = Field(
        SecretStr("redis://127.0.0.1:6379/0"),
        validation_alias=AliasChoices("REDIS_URL", "RATER_REDIS_URL", "redis_url"),
    )
    redis_cluster: bool = False
    # a Redis call that has not answered by then fails (and the session restarts)
    redis_timeout_s: float = Field(10.0, gt=0)
    catalog: Path = Path("examples/catalog-basic.yaml")
    group_id: str = "rater"
    instance_id: str = Field(default_factory=socket.gethostname)
    namespace: str = "rater"  # Redis key namespace; replays use their own
    topics: Topics = Topics()
    partitions: int = Field(4, ge=1)  # for topic creation by `rater topics`
    batch_size: int = Field(5000, ge=1)
    # an idle turn waits this long for input, and no longer than the first input takes to
    # come; a turn after one that brought messages takes what has come without a wait, so
    # a batch holds one batch's time of traffic, at most batch_size (docs/configuration.md)
    batch_timeout_s: float = Field(0.05, gt=0)
    account_cache: int = Field(200_000, ge=0)  # accounts kept in memory per owned partition
    # a tick applies to at most this many due accounts of a partition per batch, and goes
    # on in the next: a clock that missed days over many subscribers stays in memory
    tick_accounts_per_batch: int = Field(1000, ge=1)
    # young collections after this many more live objects (0: Python's default, 700):
    # each walks at most this many (their survivors are frozen), which bounds its pause
    # (about 70 ms, against 0.35 s at 500 000: docs/configuration.md)
    gc_gen0_threshold: int = Field(100_000, ge=0)
    # processes of `rater simulate` and `rater replay` (rater.jobs.shares); 0: one per
    # CPU (at most one per partition) for an input of 1 MiB or more, else one
    offline_workers: int = Field(0, ge=0)
    # A partition's usage waits for its commands (and back) to apply both in event-time
    # order; past this wait, what has arrived is applied (rater.pipeline.align).
    align_max_wait_ms: int = Field(2000, ge=0)
    # a lost Kafka or Redis is retried (sessions restarted, growing pauses) for this long
    # without one good turn of the loop; then `rater run` exits 3 with the reason
    dependency_retry_s: float = Field(120.0, ge=0)
    # session restarts are counted over this sliding window; more than `restart_limit`
    # in it (a restart loop rather than an outage) and `rater run` exits 3 too
    restart_window_s: float = Field(600.0, gt=0)
    restart_limit: int = Field(30, ge=1)
    rate_log_s: float = Field(30.0, gt=0)  # `rater run` logs its rate this often
    commit_overlap: bool = True  # commit batch n in Kafka while batch n + 1 is consumed and rated
    transaction_timeout_ms: int = Field(10_000, ge=1000)
    max_future_ms: int = Field(24 * 3_600_000, ge=0)  # later than now + this: dead letter
    # a line remembers its records this far back in event time; older ones are LATE
    # (rater.core.duplicates): memory per subscriber grows with it
    duplicate_window_hours: int = Field(48, ge=1, le=40 * 24)
    # a dead letter's encoded size at most (a large original is cut, its length and
    # SHA-256 kept): below the dead-letter topic's max.message.bytes
    dead_letter_max_bytes: int = Field(900_000, ge=16_384)
    metrics_port: int = Field(9400, ge=0, le=65535)  # 0: no HTTP endpoint
    metrics_host: str = "127.0.0.1"
    schema_registry_url: str | None = None
    kafka: dict[str, str] = {}  # extra librdkafka settings for both clients
    # Secured connections (docs/operations.md): secrets from a file (a mounted Secret,
    # read again whenever a client is made) or the environment, never from `kafka`
    kafka_password: SecretStr | None = None  # librdkafka's sasl.password
    kafka_password_file: Path | None = None  # a file holding it (one line)
    redis_password_file: Path | None = None  # Redis's password, when not in redis_url
    redis_tls_ca_file: Path | None = None  # the CA that signed Redis's certificate (rediss://)
    redis_tls_cert_file: Path | None = None  # a client certificate, for tls-auth-clients
    redis_tls_key_file: Path | None = None  # its private key

    @field_validator("kafka")
    @classmethod
    def _no_secret_in_kafka(cls, v: dict[str, str]) -> dict[str, str]:
        secret = sorted(k for k in v if k in KAFKA_SECRET_KEYS)
        if secret:
            raise ValueError(
                f"{', '.join(secret)} does not belong here (settings are not secret: "
                "they are shown, and kept in a ConfigMap): give the SASL password as "
                "kafka_password_file (a file) or RATER_KAFKA_PASSWORD (the environment)"
            )
        return v

    @model_validator(mode="after")
    def _one_source_per_secret(self) -> Settings:
        if self.kafka_password is not None and self.kafka_password_file is not None:
            raise ValueError("kafka_password and kafka_password_file are both set: keep one")
        if (self.redis_tls_cert_file is None) != (self.redis_tls_key_file is None):
            raise ValueError("redis_tls_cert_file and redis_tls_key_file go together")
        return self

    def kafka_secrets(self) -> dict[str, str]:
        """The librdkafka settings that hold secrets (sasl.password), the file read now:
        a rotated Secret is used by the next client made (a session restart)."""
        if self.kafka_password_file is not None:
            path = self.kafka_password_file
            return {"sasl.password": read_secret(path, "kafka_password_file")}
        if self.kafka_password is not None:
            return {"sasl.password": self.kafka_password.get_secret_value()}
        return {}

    def redis_password(self) -> str | None:
        """Redis's password from `redis_password_file` (read now), if set."""
        if self.redis_password_file is None:
            return None
        return read_secret(self.redis_password_file, "redis_password_file")

    @property
    def duplicate_window_ms(self) -> int:
        return self.duplicate_window_hours * 3_600_000

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # environment beats the file (passed as init values), which beats defaults
        return env_settings, init_settings


def read_secret(path: Path, setting: str) -> str:
    """A secret kept in a file: its text without the line end a `echo` or an editor
    leaves. Refused (naming the setting and file, never the content) when unreadable
    or empty."""
    try:
        value = path.read_text().rstrip("\r\n")
    except OSError as e:
        raise Refused(f"{setting} {path}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError:
        raise Refused(f"{setting} {path}: not UTF-8 text") from None
    if not value:
        raise Refused(f"{setting} {path}: empty")
    return value


class ConfigError(ValueError):
    """A configuration that cannot be used, naming the file, field and reason."""


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    data: dict[str, Any] = {}
    source = "environment"
    if path is not None:
        source = str(path)
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except OSError as e:
            raise ConfigError(f"{path}: cannot read: {e.strerror}") from None
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML: {e}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping of settings")
        data.update(loaded)
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings(**data)
    except ValidationError as e:
        problems = [
            f"{source}: field {'.'.join(str(x) for x in err['loc'])}: {err['msg']}"
            for err in e.errors()
        ]
        raise ConfigError("\n".join(problems)) from None
