"""Credentials come from a file or the environment and never show: not in the settings'
repr or dump, not in a refusal, not in an error line (tests/integration/test_secured.py
runs them against a SASL_SSL broker and a TLS Redis)."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from rater.config import ConfigError, Settings, load_settings
from rater.errors import Refused, describe, redact_url
from rater.store.redis import redis_client, settings_client
from rater.stream.kafka import admin_config, consumer_config, producer_config

SECRET = "s3cret-Pa55word"


@pytest.fixture(autouse=True)
def no_settings_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for k in list(os.environ):
        if k.startswith("RATER_") or k in ("REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS"):
            monkeypatch.delenv(k)


def test_passwords_do_not_show_in_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RATER_KAFKA_PASSWORD", SECRET)
    monkeypatch.setenv("REDIS_URL", f"rediss://rater:{SECRET}@127.0.0.1:6380/0")
    s = Settings()
    assert s.kafka_secrets() == {"sasl.password": SECRET}
    for shown in (repr(s), str(s), str(s.model_dump()), s.model_dump_json()):
        assert SECRET not in shown


def test_the_kafka_password_file_is_read_without_its_line_end_and_again_each_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "password"
    path.write_text(SECRET + "\n")
    monkeypatch.setenv("RATER_KAFKA_PASSWORD_FILE", str(path))
    s = Settings(kafka={"security.protocol": "SASL_SSL", "sasl.username": "rater"})
    for conf in (producer_config(s, "tid"), consumer_config(s), admin_config(s)):
        assert conf["sasl.password"] == SECRET
        assert conf["sasl.username"] == "rater"
    path.write_text("rotated")  # a Secret updated in place: the next client takes it
    assert s.kafka_secrets() == {"sasl.password": "rotated"}


@pytest.mark.parametrize("content", [None, "", "\n"])
def test_a_missing_or_empty_password_file_is_refused_naming_the_setting(
    tmp_path: Path, content: str | None
) -> None:
    path = tmp_path / "password"
    if content is not None:
        path.write_text(content)
    s = Settings(kafka_password_file=path)
    with pytest.raises(Refused, match=r"^kafka_password_file .*password: (cannot read|empty)"):
        s.kafka_secrets()


def test_a_secret_in_the_kafka_mapping_is_refused_without_showing_it(tmp_path: Path) -> None:
    config = tmp_path / "rater.yaml"
    config.write_text(f"kafka:\n  sasl.password: {SECRET}\n")
    with pytest.raises(ConfigError) as e:
        load_settings(config)
    assert "sasl.password does not belong here" in str(e.value)
    assert "kafka_password_file" in str(e.value)
    assert SECRET not in str(e.value)
    with pytest.raises(ValueError) as direct:
        Settings(kafka={"ssl.key.password": SECRET})
    assert SECRET not in str(direct.value)


def test_one_source_per_secret(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="both set"):
        Settings(kafka_password=SECRET, kafka_password_file=tmp_path / "p")
    with pytest.raises(ValueError, match="go together"):
        Settings(redis_tls_cert_file=tmp_path / "c")


def test_redact_url() -> None:
    assert redact_url(f"rediss://rater:{SECRET}@h:1/0") == "rediss://rater:***@h:1/0"
    assert redact_url(f"redis://:{SECRET}@h:1") == "redis://:***@h:1"
    assert redact_url("redis://h:6379/0") == "redis://h:6379/0"
    assert redact_url("rediss://rater@h:1/0") == "rediss://rater@h:1/0"


def test_an_error_line_does_not_show_the_redis_password() -> None:
    url = f"rediss://rater:{SECRET}@127.0.0.1:1/0"
    for e in (redis.exceptions.ConnectionError("refused"), redis.exceptions.RedisError("x")):
        code, line = describe(e, redis_url=url)
        assert code == 3 and SECRET not in line and "127.0.0.1:1" in line


def test_the_redis_client_takes_the_tls_files_and_the_password_file(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not read until a connection is made")
    pw = tmp_path / "redis-password"
    pw.write_text(SECRET + "\n")
    s = Settings(
        redis_url="rediss://rater@127.0.0.1:6380/0", redis_tls_ca_file=ca, redis_password_file=pw
    )
    client = settings_client(s)
    kwargs = client.connection_pool.connection_kwargs
    assert kwargs["ssl_ca_certs"] == str(ca)
    assert kwargs["password"] == SECRET and kwargs["username"] == "rater"
    assert kwargs["socket_timeout"] == s.redis_timeout_s
    client.close()


@pytest.mark.parametrize(
    ("url", "kw", "text"),
    [
        ("redis://h:1/0", {"tls_ca_file": Path("/nonexistent")}, "not TLS: use a rediss:// URL"),
        ("rediss://h:1/0", {"tls_ca_file": Path("/nonexistent")}, "no such file"),
        (f"rediss://u:{SECRET}@h:1/0", {"password": "other"}, "keep one"),
    ],
)
def test_the_redis_client_refuses_what_cannot_work(
    url: str, kw: dict[str, object], text: str
) -> None:
    with pytest.raises(Refused, match=text) as e:
        redis_client(url, **kw)  # type: ignore[arg-type]
    assert SECRET not in str(e.value)
