"""`rater replay` over several processes (rater.jobs.shares): from a recording or a
usage file, with a window and the issued charges, the files written (events, dead
letters, the diff, the facts) are those of one process, byte for byte."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import yaml

from rater.catalog import load_catalog
from rater.codec.jsonl import usage_to_json
from rater.core.cycles import to_ms
from rater.core.inputs import Command, Tick, UsageRecord
from rater.replay.plan import Window
from rater.subscribers import parse_subscribers, to_commands
from rater.workload import subscribers as gen_subscribers
from rater.workload import usage as gen_usage
from tests.unit.replay.kit import EXAMPLES, messages, recording, run

CATALOG = EXAMPLES / "catalog-full.yaml"
START = to_ms("2026-03-31T06:00:00+08:00")
END = to_ms("2026-04-02T18:00:00+08:00")
DAY = 86_400_000
OUTPUTS = ("events.jsonl", "dead-letters.jsonl", "diff.csv", "replay.json")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """300 subscribers (sharing groups among them), 8 000 records with redeliveries and
    undecodable messages; as a recording, as a usage file with its subscribers file;
    and a catalog with data at 30 fen/MB instead of 29."""
    folder = tmp_path_factory.mktemp("replay-shares")
    catalog = load_catalog(CATALOG)
    subs = gen_subscribers(catalog, 300, START - DAY, spread_days=1)
    subs_path = folder / "subscribers.yaml"
    subs_path.write_text(yaml.safe_dump({"subscribers": subs}, sort_keys=False))
    cmds: list[Command | Tick] = list(to_commands(parse_subscribers({"subscribers": subs})))
    records: list[UsageRecord | bytes] = list(gen_usage(catalog, subs, 8_000, START, END))
    usage: list[UsageRecord | bytes] = []
    for i, r in enumerate(records):
        usage.append(r)
        if i % 613 == 0:
            usage.append(records[i // 2])  # a redelivery
        if i % 1_409 == 0:
            usage.append(b"\x00not Avro")
    msgs = messages(cmds, usage, 4, START)
    usage_path = folder / "usage.jsonl"
    with usage_path.open("wb") as f:
        for r in usage:
            line = orjson.dumps(usage_to_json(r)) if isinstance(r, UsageRecord) else r
            f.write(line + b"\n")
    text = CATALOG.read_text().replace("data_fen_per_mb: 29", "data_fen_per_mb: 30")
    changed = folder / "catalog-30.yaml"
    changed.write_text(text.replace('"2026-11-full-1"', '"2026-11-full-2"'))
    return {
        "recording": recording(folder / "recording.avro", msgs, 4),
        "usage": usage_path,
        "subscribers": subs_path,
        "changed": changed,
    }


def _outputs(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in OUTPUTS}


@pytest.mark.parametrize("source", ["recording", "usage"])
def test_a_shared_replay_writes_what_one_process_writes(
    inputs: dict[str, Path], tmp_path: Path, source: str
) -> None:
    subs = inputs["subscribers"] if source == "usage" else None
    issued_run = run(tmp_path, CATALOG, "issued", input_file=inputs[source], subs=subs)
    issued = tmp_path / "issued" / "events.jsonl"
    window = Window(START + 6 * 3_600_000, END - 6 * 3_600_000)
    done = {}
    for workers in (1, 2, 3):
        out = f"rerated-{workers}"
        res = run(
            tmp_path,
            inputs["changed"],
            out,
            input_file=inputs[source],
            subs=subs,
            issued=issued,
            window=window,
            workers=workers,
        )
        done[workers] = (_outputs(tmp_path / out), res.read, res.diff_fen)
    one = done[1]
    assert issued_run.summary.records > 7_000
    assert one[2]  # another catalog, another bill: a diff to put together
    assert b"DECODE_ERROR" in one[0]["dead-letters.jsonl"]
    for workers in (2, 3):
        assert done[workers] == one, f"{workers} processes"
