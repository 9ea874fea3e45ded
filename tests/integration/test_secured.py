"""Secured connections: `rater run` on a Kafka broker that takes SASL_SSL only
(SCRAM-SHA-512) and a Redis that takes TLS only, with an ACL user (the default user off),
both of this module's own with certificates made for it (tests/integration/
secure_servers.py).

* The example data rated over them equals `rater simulate` on it, event for event.
* The passwords (given as a file and in the environment, as an operator would) appear
  nowhere in the process's log, its /metrics, /healthz and /readyz pages, nor in
  `rater check`'s output.
* A wrong Kafka password and a wrong Redis password each end `rater run` at once with
  exit 3 and one line saying so, no traceback, and nothing written: no output message,
  no Redis key.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
import yaml

from rater.codec.jsonl import event_from_json, event_to_json
from rater.config import Settings
from rater.core.events import Event
from rater.jobs.offline import Reading, read_usage
from rater.store.redis import settings_client
from rater.stream.kafka import ensure_topics, list_topics
from rater.stream.tools import account_keys, produce_commands, produce_usage, read_events
from rater.subscribers import load_subscribers, to_commands
from tests.faults.servers import free_port
from tests.integration import streamkit
from tests.integration.secure_servers import SecureServers, Unsupported, start_secure_servers

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CATALOG = EXAMPLES / "catalog-basic.yaml"
SUBSCRIBERS = EXAMPLES / "subscribers-basic.yaml"
USAGE = EXAMPLES / "usage-basic.jsonl"
PARTITIONS = 2
RUN_TIMEOUT_S = 90.0


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureServers]:
    """The SASL_SSL broker and the TLS Redis, for the module; removed afterwards."""
    try:
        servers = start_secure_servers(tmp_path_factory.mktemp("secure"))
    except Unsupported as e:
        pytest.skip(f"secured servers cannot run here: {e}")
    try:
        yield servers
    finally:
        servers.remove()


def _secret_file(folder: Path, name: str, value: str) -> Path:
    path = folder / name
    path.write_text(value + "\n")  # as `echo` writes it: the line end is not the secret
    path.chmod(0o600)
    return path


@dataclass
class World:
    settings: Settings  # its own topics, group and namespace; inputs produced, not rated
    config: Path  # the settings YAML `rater run --config` reads: no secret in it
    inputs: int  # input messages produced (commands and usage)


@pytest.fixture
def world(secure: SecureServers, tmp_path: Path) -> World:
    """Topics of the test's own on the secured broker, the example subscribers and usage
    produced to them (through the rater's own clients, so over SASL_SSL), and a settings
    file for `rater run` that names the password file but holds no password."""
    password_file = _secret_file(tmp_path, "kafka-password", secure.kafka_password)
    s = streamkit.make_settings(
        secure.bootstrap,
        secure.redis_url(),
        "sec",
        partitions=PARTITIONS,
        catalog=CATALOG,
        kafka=secure.kafka_settings(),
        kafka_password_file=password_file,
        **secure.redis_tls(),
    )
    ensure_topics(s, PARTITIONS)
    names = s.topics.inputs() + s.topics.outputs()
    deadline = time.monotonic() + 30
    while not all(
        t in md.topics and all(p.leader >= 0 for p in md.topics[t].partitions.values())
        for md in [list_topics(s, timeout=10)]
        for t in names
    ):
        assert time.monotonic() < deadline, "topics without leaders after 30 s"
        time.sleep(0.2)
    commands = list(to_commands(load_subscribers(SUBSCRIBERS)))
    n_commands = produce_commands(s, commands)
    # as `rater produce` does: a line that is not a record (the example has one) is not
    # sent; `rater simulate` makes it a dead letter, which is not an event
    n_usage, _ = produce_usage(s, read_usage(USAGE, Reading(USAGE)), account_keys(commands))
    config = s.model_dump(mode="json", exclude={"redis_url", "kafka_password"})
    config.update(instance_id=f"{s.group_id}-0", metrics_port=free_port(), rate_log_s=1.0)
    path = tmp_path / "rater.yaml"
    path.write_text(yaml.safe_dump(config))
    assert secure.kafka_password not in path.read_text()
    return World(s, path, n_commands + n_usage)


def _env(**extra: str) -> dict[str, str]:
    """The environment of a `rater` subprocess: this one's, less whatever names a
    setting (the test's settings file and `extra` are all it gets)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("RATER_") and k not in ("KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL")
    }
    return {**env, **extra}


def _rater(*args: str) -> list[str]:
    return [sys.executable, "-m", "rater.cli", *args]


def canon(e: Event) -> bytes:
    return orjson.dumps(event_to_json(e), option=orjson.OPT_SORT_KEYS)


def _simulated(tmp: Path) -> dict[str, bytes]:
    out = tmp / "simulated.jsonl"
    subprocess.run(
        _rater(
            "simulate",
            "--catalog",
            str(CATALOG),
            "--subscribers",
            str(SUBSCRIBERS),
            "--usage",
            str(USAGE),
            "--partitions",
            str(PARTITIONS),
            "--out",
            str(out),
        ),
        cwd=ROOT,
        env=_env(),
        check=True,
        capture_output=True,
        timeout=120,
    )
    events = [event_from_json(orjson.loads(line)) for line in out.read_bytes().splitlines()]
    assert events, "the example data gives events"
    return {e.event_id: canon(e) for e in events}


def _get(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return str(r.read().decode())


def _applied(metrics: str) -> float:
    """Input messages processed so far, from /metrics (rater_records_total)."""
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("rater_records_total{")
    )


def _namespace_keys(s: Settings) -> list[bytes]:
    client = settings_client(s)
    try:
        return list(client.scan_iter(match=f"{{{s.namespace}:*", count=1000))
    finally:
        client.close()


def test_rated_over_sasl_ssl_and_tls_redis_equal_simulate_and_no_secret_shows(
    secure: SecureServers, world: World, tmp_path: Path
) -> None:
    s = world.settings
    expected = _simulated(tmp_path)
    # the Kafka password from a file (named in the settings file), Redis's in the
    # environment (in the URL, as REDIS_URL from a Secret)
    env = _env(REDIS_URL=secure.redis_url())
    log = tmp_path / "run.log"
    port = yaml.safe_load(world.config.read_text())["metrics_port"]
    pages: dict[str, str] = {}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            _rater("run", "--config", str(world.config), "--log-level", "DEBUG"),
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + RUN_TIMEOUT_S
            while True:
                assert proc.poll() is None, f"rater run exited:\n{log.read_text()[-3000:]}"
                assert time.monotonic() < deadline, f"not applied:\n{log.read_text()[-3000:]}"
                try:
                    pages["/metrics"] = _get(port, "/metrics")
                except OSError:
                    pages["/metrics"] = ""
                if _applied(pages["/metrics"]) >= world.inputs:
                    break
                time.sleep(0.5)
            time.sleep(1.0)  # the last batch's commit
            for page in ("/metrics", "/healthz", "/readyz"):
                pages[page] = _get(port, page)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            code = proc.wait(60)
    text = log.read_text()
    assert code == 0, text[-3000:]
    assert "Traceback" not in text

    # the events are `rater simulate`'s: each once, none missing, none extra
    events = read_events(s)
    ids = Counter(e.event_id for e in events)
    assert not [k for k, n in ids.items() if n > 1], "an event written twice"
    assert set(ids) == set(expected)
    assert all(canon(e) == expected[e.event_id] for e in events)
    assert _namespace_keys(s), "the state is in the TLS Redis"

    # no secret in the log, the HTTP pages or `rater check`
    check = subprocess.run(
        _rater(
            "check",
            "--config",
            str(world.config),
            "--catalog",
            str(CATALOG),
            "--subscribers",
            str(SUBSCRIBERS),
            "--usage",
            str(USAGE),
        ),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # the example usage has two faulty lines on purpose: exit 1, each named
    assert check.returncode == 1 and "2 problems" in check.stderr, check.stdout + check.stderr
    seen = {"log": text, **pages, "rater check": check.stdout + check.stderr}
    assert "rater run: catalog" in text, "the log is there to search"
    for secret in (secure.kafka_password, secure.redis_password):
        leaked = [where for where, said in seen.items() if secret in said]
        assert not leaked, f"a password shows in {leaked}"


def _refused(world: World, env: dict[str, str], config: Path | None = None) -> tuple[str, float]:
    t0 = time.monotonic()
    p = subprocess.run(
        _rater("run", "--drain", "--config", str(config or world.config)),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    took = time.monotonic() - t0
    out = p.stdout + p.stderr
    assert p.returncode == 3, out
    assert "Traceback" not in out
    lines = out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out  # one line, nothing else
    return lines[0], took


def _nothing_written(s: Settings) -> None:
    from rater.stream.tools import read_topic

    for topic in s.topics.outputs():
        assert read_topic(s, topic, timeout=10) == [], f"{topic} has messages"
    assert _namespace_keys(s) == []


def test_a_wrong_kafka_password_is_refused_in_one_line_and_nothing_is_written(
    secure: SecureServers, world: World, tmp_path: Path
) -> None:
    # the password from the environment this time: the settings file names none
    config = yaml.safe_load(world.config.read_text())
    config.pop("kafka_password_file")
    path = tmp_path / "env-password.yaml"
    path.write_text(yaml.safe_dump(config))
    wrong = "wrong-" + secure.kafka_password
    env = _env(REDIS_URL=secure.redis_url(), RATER_KAFKA_PASSWORD=wrong)
    line, took = _refused(world, env, path)
    assert "Kafka at" in line and "_AUTHENTICATION" in line and "password" in line, line
    assert took < 30, f"refused after {took:.1f} s"
    for secret in (wrong, secure.kafka_password, secure.redis_password):
        assert secret not in line
    _nothing_written(world.settings)


def test_a_wrong_redis_password_is_refused_in_one_line_and_nothing_is_written(
    secure: SecureServers, world: World, tmp_path: Path
) -> None:
    # the user in the URL, the password from a file
    wrong = "wrong-" + secure.redis_password
    config = yaml.safe_load(world.config.read_text())
    config["redis_password_file"] = str(_secret_file(tmp_path, "redis-password", wrong))
    path = tmp_path / "file-password.yaml"
    path.write_text(yaml.safe_dump(config))
    url = secure.redis_url().replace(f":{secure.redis_password}@", "@")
    line, took = _refused(world, _env(REDIS_URL=url), path)
    assert "Redis at" in line and "refused the credentials" in line, line
    assert took < 30, f"refused after {took:.1f} s"
    for secret in (wrong, secure.kafka_password, secure.redis_password):
        assert secret not in line
    _nothing_written(world.settings)
