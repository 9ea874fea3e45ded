"""`rater run --workers N`: one rater process per core on one machine.

Rating is Python, so one process uses one core at most. On Kubernetes the answer is
more replicas; on a VM this starts N copies of the service as members of the same
consumer group (partitions are shared by the group, state is per partition in Redis, so
nothing else changes). Each worker gets its own instance id (`<id>-w<i>`, hence its own
transactional id) and its own metrics port (`port + i`). SIGTERM or SIGINT is passed on
to every worker, which finishes its batch and leaves the group. If a worker dies, the
others are stopped too and the exit status says so: the orchestrator restarts the whole
unit, and the group hands the partitions over meanwhile.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import time
from types import FrameType

from rater.config import Settings

log = logging.getLogger("rater.stream")


def worker_settings(s: Settings, index: int) -> Settings:
    """Worker `index`'s settings: its own instance id and metrics port."""
    update: dict[str, object] = {"instance_id": f"{s.instance_id}-w{index}"}
    if s.metrics_port:
        update["metrics_port"] = s.metrics_port + index
    return s.model_copy(update=update)


def _worker(s: Settings, drain: bool, log_level: str) -> None:
    from rater.stream.service import run_service

    logging.basicConfig(
        level=log_level, format="%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s"
    )
    run_service(s, drain)


def run_workers(s: Settings, n: int, drain: bool = False, log_level: str = "INFO") -> int:
    """Run `n` rater processes until they all stop; the exit status (0: all clean)."""
    ctx = multiprocessing.get_context("spawn")  # no fork of a process with Kafka threads
    procs = [
        ctx.Process(
            target=_worker, args=(worker_settings(s, i), drain, log_level), name=f"rater-w{i}"
        )
        for i in range(n)
    ]
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for p in procs:
            if p.is_alive() and p.pid is not None:
                p.terminate()  # SIGTERM: the worker finishes its batch and leaves

    old = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for p in procs:
            p.start()
        log.info("started %d workers: %s", n, ", ".join(str(p.pid) for p in procs))
        while any(p.is_alive() for p in procs):
            failed = [p for p in procs if p.exitcode not in (None, 0)]
            if failed and not stopping:
                log.error(
                    "worker %s exited with status %s: stopping the others",
                    failed[0].name,
                    failed[0].exitcode,
                )
                stop(signal.SIGTERM, None)
            time.sleep(0.2)
        codes = [p.exitcode or 0 for p in procs]
        if stopping:
            # a worker the stop reached before it had a handler was still starting (its
            # service installs one before it consumes anything): it did nothing, cleanly
            codes = [0 if c == -signal.SIGTERM else c for c in codes]
        return next((c if c > 0 else 128 - c for c in codes if c != 0), 0)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
