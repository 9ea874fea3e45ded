"""A zombie (issue 15, item 2): a member paused with SIGSTOP under load, with a batch
written to Redis and its transaction open, past its session timeout and its transaction
timeout, while the other member takes its partitions, then resumed with SIGCONT.
Whatever it had in hand must change neither state nor output (its transaction is
aborted by the coordinator, its next Redis write refused by the epoch), and it must
stay up and rejoin. The run ends equal to the simulator's."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from tests.faults.test_kill9 import _start
from tests.faults.test_lost_servers import _applied, _config, _tail, _wait
from tests.faults.world import assert_equals_simulator, make_world


def test_a_paused_member_that_wakes_up_after_its_partitions_moved_changes_nothing(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    n = 60_000
    world = make_world(kafka_bootstrap, redis_url, subscribers=200, records=n, seed=81)
    s = world.settings
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    # the zombie-to-be stops itself (SIGSTOP, rater/stream/faults.py) at its 30th Redis
    # write: work begun, its batch in Redis, its transaction open and not committed
    stop_at = {"RATER_CRASH_AT": "after_redis_commit:30:stop"}
    procs = [
        _start(
            _config(s, tmp_path, name, batch_size=200, transaction_timeout_ms=10_000),
            log,
            stop_at if name == "a" else None,
        )
        for name, log in zip("ab", logs, strict=True)
    ]
    zombie, other = procs
    try:
        _wait(
            "the zombie-to-be stopping mid-transaction",
            lambda: "fault injection: SIGSTOP" in logs[0].read_text(),
            zombie,
            logs[0],
            90,
        )
        before = logs[1].read_text().count("assigned partition")
        paused_at = _applied(s)
        assert paused_at < n, "the run ended before the pause"
        # past session.timeout.ms (10 s): the other member is given every partition
        _wait(
            "the other member taking the partitions over",
            lambda: logs[1].read_text().count("assigned partition") > before,
            other,
            logs[1],
            40,
        )
        time.sleep(12)  # and past the zombie's transaction timeout too
        zombie.send_signal(signal.SIGCONT)
        _wait("the end of the input", lambda: _applied(s) == n, other, logs[1], 120)
        time.sleep(3)  # the zombie's wake-up has run its course
        for p, log in zip(procs, logs, strict=True):
            assert p.poll() is None, f"a member exited ({p.returncode}):\n{_tail(log)}"
            p.send_signal(signal.SIGTERM)
        for p, log in zip(procs, logs, strict=True):
            assert p.wait(timeout=60) == 0, _tail(log)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.kill()
                p.wait()
    zombie_log = logs[0].read_text()
    woke = zombie_log.split("fault injection: SIGSTOP", 1)[-1]
    # Awake, it found its partitions gone: it restarted its session (its commit or its
    # next Redis write refused), or, with no input left for it to rate, it only lost
    # and rejoined the group, the refused commit kept for a batch that never came.
    # Either way nothing it held reached the state or the outputs (checked below).
    assert "session restart" in woke or "revoked partition" in woke, zombie_log[-3000:]
    assert "Traceback" not in zombie_log
    assert_equals_simulator(world)
    print(f"paused at {paused_at} of {n} records applied; the zombie's restarts:")
    print("\n".join(line for line in zombie_log.splitlines() if "session restart" in line))
