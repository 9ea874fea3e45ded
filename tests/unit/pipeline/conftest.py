"""A workload shared by the offline job's tests: sharing groups, bad lines,
redeliveries, late records and an order, in files."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import yaml

from rater.catalog import load_catalog
from rater.codec.jsonl import usage_to_json
from rater.core.cycles import to_ms
from rater.core.inputs import Command, Tick
from rater.jobs.files import in_time_order, read_commands
from rater.subscribers import load_subscribers, to_commands
from rater.workload import subscribers as gen_subscribers
from rater.workload import usage as gen_usage

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
CATALOG = load_catalog(EXAMPLES / "catalog-full.yaml")
START = to_ms("2026-03-31T06:00:00+08:00")
END = to_ms("2026-04-02T18:00:00+08:00")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Command | Tick], Path]:
    """300 subscribers (sharing groups among them), 12 000 usage lines with bad lines,
    redeliveries and records late by a cycle among them, and a commands file."""
    folder = tmp_path_factory.mktemp("shares")
    subs = gen_subscribers(CATALOG, 300, START - 86_400_000, spread_days=1)
    subs_path = folder / "subscribers.yaml"
    subs_path.write_text(yaml.safe_dump({"subscribers": subs}, sort_keys=False))
    records = list(gen_usage(CATALOG, subs, 11_000, START, END))
    lines = [orjson.dumps(usage_to_json(r)) for r in records]
    out: list[bytes] = []
    for i, line in enumerate(lines):
        out.append(line)
        if i % 997 == 0:
            out.append(b"not JSON at all")
        if i % 1_301 == 0:
            out.append(b'{"msisdn": "' + records[i].msisdn.encode() + b'", "start_time": "x"}')
        if i % 701 == 0:
            out.append(lines[i // 2])  # a redelivery, later
        if i % 1_999 == 0:
            late = usage_to_json(records[i])
            late["record_id"] += "-late"
            late["start_time"] -= 40 * 86_400_000
            out.append(orjson.dumps(late))
    usage = folder / "usage.jsonl"
    usage.write_bytes(b"\n".join(out) + b"\n")
    orders = folder / "commands.jsonl"
    order = {
        "type": "order",
        "command_id": "o-1",
        "msisdn": subs[5]["msisdn"],
        "product": next(iter(CATALOG.packs)),
        "time": START + 10 * 3_600_000,
    }
    orders.write_bytes(orjson.dumps(order) + b"\n")
    cmds = in_time_order(list(to_commands(load_subscribers(subs_path))), read_commands(orders))
    return cmds, usage
