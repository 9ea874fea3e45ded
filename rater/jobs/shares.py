"""An offline job over several processes: each rates a share of the emulated partitions,
and their outputs are put together in the order one process would have written them.

Why this is exact: partitions share nothing (an account lives in one partition, and a
tick goes to each), so a process that rates partitions 0 and 2 computes for them what a
process rating all four computes. Every process reads the whole input, so that each
counts the same lines and flushes at the same chunk boundaries; it decodes only its
own lines (`Reading.owns`: the line's partition, from its MSISDN, as the router finds
it). A line with no readable MSISDN belongs to share 0.

The order of the outputs: one process writes, at each flush k, the dead letters of the
unreadable lines read since the last flush (by line), then each partition's outputs
(by partition). Each process notes where each such segment starts in its own files
(`SegmentLog`), keyed (k, 0, line) or (k, 1 + partition, 0); the parent sorts all
processes' segments by key and copies them into the real outputs. The files are then
byte for byte those of one process (tests/unit/pipeline/test_shares.py).

Processes are forked after the start-up (catalog, subscribers): they inherit it, and
the progress bar in the parent follows counters they update.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import IO, Any, cast

from rater.jobs.peak import peak_kib
from rater.progress import Progress, Reports

SegmentKey = tuple[int, int, int]  # (flush, 0 or 1 + partition, line)


AUTO_MIN_BYTES = 1 << 20  # smaller inputs: one process (forking costs more than it saves)


def worker_count(setting: int, partitions: int, input_bytes: int | None) -> int:
    """Processes for an offline job: `setting` if given (0: one per CPU this process
    may use, for an input of AUTO_MIN_BYTES or more), never more than the partitions."""
    if setting <= 0:
        large = input_bytes is not None and input_bytes >= AUTO_MIN_BYTES
        setting = len(os.sched_getaffinity(0)) if large else 1
    return max(1, min(setting, partitions))


@dataclass(frozen=True, slots=True)
class Share:
    """Which of the emulated partitions a process rates: those equal to `index`
    modulo `count`."""

    index: int
    count: int

    def owns(self, partition: int) -> bool:
        return partition % self.count == self.index


@dataclass(slots=True)
class SegmentLog:
    """Where each segment of a process's outputs starts in its files (see the module)."""

    events: IO[bytes]
    dead: IO[bytes] | None
    marks: list[tuple[SegmentKey, int, int]] = field(default_factory=list)

    def mark(self, key: SegmentKey) -> None:
        dead = self.dead.tell() if self.dead is not None else 0
        self.marks.append((key, self.events.tell(), dead))

    def clear(self) -> None:
        """The run starts over (after a poison input): its files are emptied too."""
        self.marks.clear()


class _Counters:
    """A process's progress, in memory shared with the parent's bar."""

    def __init__(self, shared: Any, index: int) -> None:
        self.shared, self.at = shared, 2 * index

    def update(self, done: int, records: int) -> None:
        self.shared[self.at] = done
        self.shared[self.at + 1] = records


# rates one share: (share, events file, dead letters file or None, segment log,
# progress) -> the share's result (a summary: anything picklable with `merge`)
RunShare = Callable[[Share, IO[bytes], "IO[bytes] | None", SegmentLog, Reports], Any]


@dataclass
class SharedRun:
    """What a run over several processes returns: each share's result (in share order)
    and the peak memory of every process (KiB), the parent's included."""

    results: list[Any]
    peak_kib: list[int]


class ShareFailed(RuntimeError):
    """A process of the run failed with an error that could not be sent back whole."""


def run_shares(
    count: int,
    rate: RunShare,
    events_out: IO[bytes],
    dead_out: IO[bytes] | None,
    progress: Progress | None = None,
) -> SharedRun:
    """Run `rate` in `count` forked processes, one share each, and write their outputs
    to `events_out` and `dead_out` in one process's order. An error in any process
    stops the others and is raised here."""
    ctx = multiprocessing.get_context("fork")
    shared = ctx.Array("q", 2 * count, lock=False)
    with tempfile.TemporaryDirectory(prefix="rater-shares-") as tmp:
        folder = Path(tmp)
        procs: list[Any] = []
        conns: dict[Connection, int] = {}
        for i in range(count):
            recv, send = ctx.Pipe(duplex=False)
            p = ctx.Process(
                target=_share_main,
                args=(Share(i, count), rate, folder, dead_out is not None, send, shared),
                daemon=True,
            )
            p.start()
            send.close()
            procs.append(p)
            conns[recv] = i
        answers: dict[int, tuple[Any, list[tuple[SegmentKey, int, int]], int]] = {}
        try:
            while conns:
                for ready in wait(list(conns), timeout=0.5):
                    c = cast(Connection, ready)
                    i = conns.pop(c)
                    try:
                        answer = c.recv()
                    except EOFError:
                        raise ShareFailed(f"share {i} of {count} ended without a result") from None
                    if answer[0] == "error":
                        raise cast(BaseException, answer[1])
                    answers[i] = (answer[1], answer[2], answer[3])
                if progress is not None:
                    progress.update(
                        min(shared[2 * i] for i in range(count)),
                        min(shared[2 * i + 1] for i in range(count)),
                    )
        finally:
            for p in procs:
                if p.is_alive():
                    p.terminate()
                p.join()
        _merge(folder, count, answers, events_out, dead_out)
    own = peak_kib()
    return SharedRun(
        [answers[i][0] for i in range(count)], [own] + [answers[i][2] for i in range(count)]
    )


def _share_main(
    share: Share,
    rate: RunShare,
    folder: Path,
    with_dead: bool,
    conn: Connection,
    shared: Any,
) -> None:
    """A forked process: rate its share into files of its own, send back the result."""
    try:
        with (folder / f"events-{share.index}").open("w+b") as ev:
            dead = (folder / f"dead-{share.index}").open("w+b") if with_dead else None
            try:
                log = SegmentLog(ev, dead)
                result = rate(share, ev, dead, log, _Counters(shared, share.index))
            finally:
                if dead is not None:
                    dead.close()
        peak = peak_kib()
        conn.send(("ok", result, log.marks, peak))
    except BaseException as e:  # every failure goes to the parent
        try:
            pickle.dumps(e)
            conn.send(("error", e))
        except Exception:
            conn.send(("error", ShareFailed("".join(traceback.format_exception(e)))))
    finally:
        conn.close()
        os._exit(0)  # not the parent's exit handlers, nor its buffered output again


def _merge(
    folder: Path,
    count: int,
    answers: dict[int, tuple[Any, list[tuple[SegmentKey, int, int]], int]],
    events_out: IO[bytes],
    dead_out: IO[bytes] | None,
) -> None:
    """Every process's segments, sorted by key, copied into the outputs."""
    segments: list[tuple[SegmentKey, int, int, int, int, int]] = []
    for i in range(count):
        marks = answers[i][1]
        ev_end = (folder / f"events-{i}").stat().st_size
        dead_file = folder / f"dead-{i}"
        dl_end = dead_file.stat().st_size if dead_file.exists() else 0
        ends = [(m[1], m[2]) for m in marks[1:]] + [(ev_end, dl_end)]
        for (key, ev_at, dl_at), (ev_to, dl_to) in zip(marks, ends, strict=True):
            segments.append((key, i, ev_at, ev_to, dl_at, dl_to))
    segments.sort()
    files = {i: (folder / f"events-{i}").open("rb") for i in range(count)}
    deads = {i: (folder / f"dead-{i}").open("rb") for i in range(count) if dead_out is not None}
    try:
        for _, i, ev_at, ev_to, dl_at, dl_to in segments:
            _copy(files[i], ev_at, ev_to, events_out)
            if dead_out is not None:
                _copy(deads[i], dl_at, dl_to, dead_out)
    finally:
        for f in (*files.values(), *deads.values()):
            f.close()


def _copy(src: IO[bytes], start: int, end: int, dst: IO[bytes]) -> None:
    if end <= start:
        return
    src.seek(start)
    left = end - start
    while left:
        chunk = src.read(min(left, 1 << 24))
        dst.write(chunk)
        left -= len(chunk)
