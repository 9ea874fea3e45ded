"""A zombie (issue 15, item 2): a member paused with SIGSTOP under load, past its
session timeout and its transaction timeout, while the other member takes its
partitions, then resumed with SIGCONT. Whatever it had in hand must change neither
state nor output (its Redis write is refused by the epoch, its transaction by the
coordinator), and it must stay up and rejoin. The run ends equal to the simulator's."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from tests.faults.test_lost_servers import _applied, _config, _start, _tail, _wait
from tests.faults.world import assert_equals_simulator, make_world


def test_a_paused_member_that_wakes_up_after_its_partitions_moved_changes_nothing(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    n = 60_000
    world = make_world(kafka_bootstrap, redis_url, subscribers=200, records=n, seed=81)
    s = world.settings
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [
        _start(_config(s, tmp_path, name, batch_size=200, transaction_timeout_ms=10_000), log)
        for name, log in zip("ab", logs, strict=True)
    ]
    zombie, other = procs
    try:

        def owns() -> bool:  # the zombie-to-be owns partitions and work has begun
            return "assigned partition" in logs[0].read_text() and _applied(s) > n // 10

        _wait("both members at work", owns, zombie, logs[0], 60)
        before = logs[1].read_text().count("assigned partition")
        zombie.send_signal(signal.SIGSTOP)
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
    assert "session restart" in zombie_log, zombie_log[-3000:]
    assert "Traceback" not in zombie_log
    assert_equals_simulator(world)
    print(f"paused at {paused_at} of {n} records applied; the zombie's restarts:")
    print("\n".join(line for line in zombie_log.splitlines() if "session restart" in line))
