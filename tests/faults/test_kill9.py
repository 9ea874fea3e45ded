"""Crash tests (issue 15, items 1 and 5): `rater run` processes of one consumer group are
killed with SIGKILL, at random instants from outside and at each crash point of the
batch protocol from inside (`RATER_CRASH_AT`, rater/stream/faults.py: before the Redis
write, between the Redis write and the Kafka commit with the transaction open, after
the outputs are produced in it, after the commit), and restarted under the same
instance id, as a pod would be. Every kill is also a rebalance. At the end, the
committed output must equal the offline simulator's: every event exactly once, the same
dead letters, every balance the same; on a single Redis and on a Redis Cluster.

How many records, kills and processes: tests/faults/scale.py (`RATER_FAULTS_SCALE=ci`
in `make test`, `full` in `make faults`: 24 kills over 200 000 records, 3 processes)."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from rater.config import Settings
from rater.stream import faults
from rater.stream.tools import send_tick
from tests.faults import scale
from tests.faults.world import applied, assert_equals_simulator, drain, make_world
from tests.integration.test_stream_vs_simulator import CATALOG, UNTIL

ROOT = Path(__file__).resolve().parents[2]
FAULT_LINE = re.compile(rb"fault injection: SIGKILL at (\w+)")


def _config_file(s: Settings, tmp: Path, instance: str) -> Path:
    data = s.model_dump(mode="json")
    data["redis_url"] = s.redis_url.get_secret_value()
    data["instance_id"] = instance
    data["batch_size"] = 1000  # many small transactions: more instants to die at
    data["catalog"] = str(CATALOG)
    path = tmp / f"{instance}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _start(
    config: Path, log: Path, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL", "RATER_CRASH_AT")
        and not k.startswith("RATER_FAULTS_")
    }
    env.update(extra_env or {})
    return subprocess.Popen(
        [sys.executable, "-m", "rater.cli", "run", "--config", str(config)],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        env=env,
    )


def _tail(log: Path, n: int = 3000) -> str:
    return log.read_text(errors="replace")[-n:]


@dataclass
class Member:
    """One `rater run` process of the group, and what it was started with."""

    config: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    armed: str | None = None  # the crash point it kills itself at, if any
    starts: int = 0

    def start(self, armed: tuple[str, int] | None) -> None:
        env = {"RATER_CRASH_AT": f"{armed[0]}:{armed[1]}"} if armed else {}
        self.armed = armed[0] if armed else None
        self.proc = _start(self.config, self.log, env)
        self.starts += 1

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


@dataclass
class Tally:
    random_kills: int = 0  # from outside, each with records applied and records left
    self_kills: int = 0  # at a crash point, as the process saw it
    at_points: Counter[str] = field(default_factory=Counter)  # from the processes' lines
    reemitted: int = 0  # batches found in Redis but not in Kafka, and re-emitted
    seconds: float = 0.0

    @property
    def kills(self) -> int:
        return self.random_kills + self.self_kills


def kill_run(s: Settings, sc: scale.Scale, n: int, tmp: Path, seed: int) -> Tally:
    """`sc.processes` members rate the input while they are killed `sc.kills` times; then
    they run on until every record is applied, and stop with SIGTERM."""
    rng = random.Random(seed)
    plan = [p for p in faults.POINTS for _ in range(sc.point_kills)]
    rng.shuffle(plan)

    def next_spec() -> tuple[str, int] | None:
        # the 1st to 4th time: soon after the start, with records still to rate
        return (plan.pop(), rng.randint(1, 4)) if plan else None

    members = [
        Member(_config_file(s, tmp, f"{s.group_id}-{i}"), tmp / f"rater-{i}.log")
        for i in range(sc.processes)
    ]
    tally = Tally()
    t0 = time.monotonic()
    deadline = t0 + 120 + 20 * sc.kills + sc.records / 500

    def logs() -> str:
        return "\n".join(f"--- {m.log.name}\n{_tail(m.log)}" for m in members)

    try:
        for m in members:
            m.start(next_spec())
        next_random = time.monotonic() + rng.uniform(1.0, 4.0)
        while True:
            done = applied(s)
            for m in members:
                assert m.proc is not None
                rc = m.proc.poll()
                if rc is None:
                    continue
                assert rc == -signal.SIGKILL and m.armed, f"{m.log.name} exited {rc}:\n{logs()}"
                tally.self_kills += 1
                m.start(next_spec())
            to_do = plan or any(m.armed for m in members) or tally.random_kills < sc.random_kills
            if not to_do:
                break
            assert done < n, (
                f"the input ended with kills still to do: {tally}, {len(plan)} crash points "
                f"not armed yet; more records (RATER_FAULTS_RECORDS) or fewer kills\n{logs()}"
            )
            assert time.monotonic() < deadline, f"kills not done in time: {tally}\n{logs()}"
            now = time.monotonic()
            if tally.random_kills < sc.random_kills and now >= next_random and done > 0:
                victim = rng.choice(members)
                assert victim.proc is not None
                if victim.proc.poll() is None:
                    victim.kill()
                    tally.random_kills += 1
                    if victim.armed:  # killed before its crash point: still to do
                        plan.append(victim.armed)
                    victim.start(next_spec())
                next_random = now + rng.uniform(1.0, 4.0)
            time.sleep(0.1)
        # every member up: they finish the input by themselves, then stop cleanly
        while applied(s) < n:
            for m in members:
                assert m.proc is not None
                assert m.proc.poll() is None, f"{m.log.name} exited {m.proc.returncode}\n{logs()}"
            assert time.monotonic() < deadline, f"not drained in time: {applied(s)} of {n}"
            time.sleep(0.2)
        for m in members:
            assert m.proc is not None
            m.proc.send_signal(signal.SIGTERM)
        for m in members:
            assert m.proc is not None
            assert m.proc.wait(timeout=60) == 0, f"{m.log.name} did not stop cleanly\n{logs()}"
    finally:
        for m in members:
            if m.proc is not None and m.proc.poll() is None:
                m.kill()
    tally.seconds = time.monotonic() - t0
    for m in members:
        text = m.log.read_bytes()
        tally.at_points.update(p.decode() for p in FAULT_LINE.findall(text))
        tally.reemitted += text.count(b"re-emitting")
        assert b"Traceback" not in text, _tail(m.log)
    return tally


@pytest.mark.parametrize("redis_kind", ["redis", "cluster"])
def test_kill9_at_random_instants_and_crash_points_loses_and_duplicates_nothing(
    redis_kind: str,
    kafka_bootstrap: str,
    redis_url: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sc = scale.current()
    cluster = redis_kind == "cluster"
    url = redis_url
    if cluster:
        url = request.getfixturevalue("cluster_url")
        # REDIS_URL names the single Redis (CI may set it): it must not override the
        # cluster's URL in the settings made here
        monkeypatch.delenv("REDIS_URL", raising=False)
        monkeypatch.delenv("RATER_REDIS_URL", raising=False)
    n = sc.records
    t0 = time.monotonic()
    world = make_world(
        kafka_bootstrap,
        url,
        subscribers=sc.subscribers,
        records=n,
        seed=11,
        until=UNTIL,
        partitions=2 * sc.processes,  # two partitions a member
        redis_cluster=cluster,
    )
    s = world.settings
    made = time.monotonic() - t0

    tally = kill_run(s, sc, n, tmp_path, seed=5)

    assert tally.kills >= sc.kills, tally
    assert tally.self_kills == sum(tally.at_points.values()), tally
    for point in faults.POINTS:
        assert tally.at_points[point] >= sc.point_kills, (point, tally)
    # a kill between the Redis write and the Kafka commit leaves a batch to re-emit
    assert tally.reemitted >= 1, tally
    send_tick(s, UNTIL)
    drain(s)
    assert_equals_simulator(world)
    print(
        f"\n{redis_kind}, scale {sc.name}: {n} records, {sc.processes} processes, "
        f"{tally.kills} kills ({tally.random_kills} at random instants, at crash points "
        f"{dict(sorted(tally.at_points.items()))}), {tally.reemitted} batches re-emitted; "
        f"world {made:.0f} s, kills and drain {tally.seconds:.0f} s, "
        f"all {time.monotonic() - t0:.0f} s"
    )


@pytest.mark.skipif(
    not scale.full(), reason="full size only: in CI the kill -9 test dies at every point"
)
@pytest.mark.parametrize("point", faults.POINTS)
def test_crash_at_each_step_of_the_batch_protocol(
    point: str, kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    """The process dies at a chosen step of its 3rd batch; a restart must finish the
    job with every event exactly once (docs/exactly-once.md, 'Crash points'). One
    process, no rebalance: a failure names its point."""
    world = make_world(
        kafka_bootstrap, redis_url, subscribers=100, records=6_000, seed=21, partitions=2
    )
    s = world.settings

    config = _config_file(s, tmp_path, f"{s.group_id}-0")
    log = tmp_path / "rater.log"
    crashing = _start(config, log, {"RATER_CRASH_AT": f"{point}:3"})
    assert crashing.wait(timeout=120) == -signal.SIGKILL, _tail(log)
    assert f"fault injection: SIGKILL at {point}" in log.read_text(), _tail(log)

    drain(s, f"{s.group_id}-0")  # the same instance id: its open transaction is aborted
    assert_equals_simulator(world)
