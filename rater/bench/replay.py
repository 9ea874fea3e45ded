"""`rater bench replay`: `rater replay` of a recording against the rating core alone on
the same records, in one run, with the replay's peak memory.

The recording is what `rater record` writes after `rater load` and `rater produce`: the
subscribers' commands, then the usage, each message Avro-encoded in its account's
partition. The replay is the whole command as an analyst runs it (reading the file,
decoding and checking every message, ordering, rating with the memory store, writing
events), timed as it reports its rating and as a whole; the core figure is `rater bench
core`'s loop on the decoded records. The two run in turn, `rounds` times, and the figure
is the median of the rounds' ratios (`rater.bench.simulate`).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from rater.bench.core import END, START, step
from rater.bench.simulate import Run, _core_rate, read_cost, rounds_of
from rater.catalog.model import Catalog
from rater.codec import avro
from rater.config import Topics
from rater.core.inputs import UsageRecord
from rater.replay.recording import Message, RecordingMeta, write_recording
from rater.routing import Router
from rater.subscribers import parse_subscribers, to_commands
from rater.workload import subscribers as gen_subscribers
from rater.workload import usage as gen_usage

PARTITIONS = 4


def write_inputs(
    catalog: Catalog, n_subscribers: int, n_records: int, folder: Path
) -> tuple[Path, Path, list[UsageRecord]]:
    """(subscribers file, recording, the records): the recording holds the commands and
    the usage as the topics would, timestamps now."""
    import yaml

    subs = gen_subscribers(catalog, n_subscribers, START - 86_400_000, spread_days=1)
    subs_path = folder / f"bench-subscribers-{n_subscribers}.yaml"
    subs_path.write_text(yaml.safe_dump({"subscribers": subs}, sort_keys=False))
    records = list(gen_usage(catalog, subs, n_records, START, END))
    topics = Topics()
    router = Router(PARTITIONS)
    offsets: dict[tuple[str, int], int] = {}
    now = int(time.time() * 1000)

    def message(topic: str, key: str, part: int, value: bytes) -> Message:
        off = offsets.get((topic, part), 0)
        offsets[(topic, part)] = off + 1
        return Message(topic, part, off, now, key.encode(), value)

    msgs = []
    for c in to_commands(parse_subscribers({"subscribers": subs})):
        key, part = router.route(c)
        msgs.append(message(topics.commands, key, part, avro.encode_command(c)))
    for r in records:
        key, part = router.route(r)
        msgs.append(message(topics.usage, key, part, avro.encode_usage(r)))
    spans: dict[str, dict[int, tuple[int, int]]] = {topics.commands: {}, topics.usage: {}}
    for (topic, part), end in offsets.items():
        spans[topic][part] = (0, end)
    meta = RecordingMeta(
        roles={"usage": topics.usage, "commands": topics.commands},
        partitions={topics.usage: PARTITIONS, topics.commands: PARTITIONS},
        offsets=spans,
        recorded_at=now,
    )
    rec_path = folder / f"bench-recording-{n_subscribers}-{n_records}.avro"
    write_recording(rec_path, meta, msgs)
    return subs_path, rec_path, records


def _replay(catalog_path: Path, recording: Path, out: Path, workers: int) -> Run:
    """`rater replay` as an analyst runs it (`--workers 0`: as many processes as it
    takes by default)."""
    cmd = [
        sys.executable,
        "-m",
        "rater.cli",
        "replay",
        "--catalog",
        str(catalog_path),
        "--input",
        str(recording),
        "--out",
        str(out),
        "--workers",
        str(workers),
    ]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, check=True, stderr=subprocess.PIPE, text=True)
    return read_cost(time.perf_counter() - t0, done.stderr)


def run(
    catalog_path: Path,
    catalog: Catalog,
    n_subscribers: int,
    n_records: int,
    workers: int = 0,
    rounds: int = 3,
) -> str:
    folder = Path("var")
    folder.mkdir(exist_ok=True)
    step(f"bench replay: recording {n_subscribers} subscribers and {n_records} records")
    subs_path, rec_path, records = write_inputs(catalog, n_subscribers, n_records, folder)
    per_round, rating, whole, big = rounds_of(
        lambda: _core_rate(catalog, subs_path, records),
        lambda: _replay(catalog_path, rec_path, folder / "bench-replay", workers),
        rounds,
    )
    size = rec_path.stat().st_size
    return "\n".join(
        [
            f"inputs: {n_subscribers} subscribers, a recording of {n_records} records "
            f"({size / 2**20:,.0f} MiB)",
            "the rating core alone (one process, commands and records) and rater replay "
            "(memory store), in turn:",
            *per_round,
            f"ratio replay / core, the median of {rounds} rounds: {rating:.2f} rating, "
            f"{whole:.2f} whole command (target >= 0.80)",
            f"peak memory of rater replay, its processes summed: {big.peak_mib:,} MiB",
        ]
    )
