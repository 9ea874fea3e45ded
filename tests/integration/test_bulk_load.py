"""`rater load --bulk` (rater.stream.bulk) leaves the same state and the same events as
the ordinary load (`rater load`, then `rater run` applying the commands one consumer
batch at a time): every Redis key of the namespace, byte for byte, and every event."""

from __future__ import annotations

from typing import Any

import pytest

from rater.bench.core import START
from rater.catalog import load_catalog
from rater.core.engine import Rater
from rater.core.inputs import Command
from rater.errors import Refused
from rater.stream import tools
from rater.stream.bulk import CHUNK, bulk_load
from rater.subscribers import parse_subscribers, to_commands
from rater.workload import subscribers as gen_subscribers
from tests.integration.streamkit import ROOT, StreamEnv, stream_env

CATALOG_FULL = ROOT / "examples" / "catalog-full.yaml"
DAY_MS = 86_400_000


def _commands() -> list[Command]:
    catalog = load_catalog(CATALOG_FULL)
    subs = gen_subscribers(catalog, 300, START - 40 * DAY_MS)
    return to_commands(parse_subscribers({"subscribers": subs}))


def _state(env: StreamEnv) -> dict[str, Any]:
    """Every key of the run's namespace, named without the namespace, with its value;
    the owner epoch left out (each load claims the partitions its own number of times)
    and the watermark's stored outputs too (they are the last batch's, and batches
    differ)."""
    r: Any = env.redis  # bytes in, bytes out
    ns = env.settings.namespace
    found: dict[str, Any] = {}
    for raw in r.scan_iter(match=f"{{{ns}:*}}:*", count=1000):
        name = raw.decode().replace(ns, "NS", 1)
        kind = r.type(raw).decode()
        if name.endswith(":epoch"):
            continue
        if kind == "string":
            found[name] = r.get(raw)
        elif kind == "hash":
            h: dict[bytes, bytes] = r.hgetall(raw)
            h.pop(b"out", None)  # fields of the watermark are topic names, the run's own
            found[name] = {k.replace(ns.encode(), b"NS"): v for k, v in h.items()}
        elif kind == "zset":
            found[name] = r.zrange(raw, 0, -1, withscores=True)
        elif kind == "set":
            found[name] = sorted(r.smembers(raw))
        else:
            raise AssertionError(f"{name}: a {kind} key the rater does not write")
    return found


def _events(env: StreamEnv) -> list[str]:
    return sorted(repr(e) for e in env.events())


@pytest.mark.parametrize("chunk", [CHUNK, 16], ids=["one-round", "rounds-of-16"])
def test_bulk_load_leaves_the_state_and_events_of_the_ordinary_load(
    kafka_bootstrap: str, redis_url: str, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In rounds of 16 commands a partition, each round is rated while the next one is
    on its way to the broker: the offsets and timestamps each command is applied with
    are still its own, or the state and events would differ."""
    monkeypatch.setattr("rater.stream.bulk.CHUNK", chunk)  # the forked workers inherit it
    cmds = _commands()
    with (
        stream_env(kafka_bootstrap, redis_url, "bulk", catalog=CATALOG_FULL) as bulk,
        stream_env(kafka_bootstrap, redis_url, "plain", catalog=CATALOG_FULL) as plain,
    ):
        tools.produce_commands(plain.settings, cmds)
        plain.drain()

        s = bulk.settings
        res = bulk_load(s, Rater(load_catalog(s.catalog)), bulk.store, cmds, workers=2)
        assert res.commands == len(cmds) and res.applied == len(cmds)
        assert res.outputs > 0
        bulk.drain()  # rater run afterwards finds every partition settled

        state = _state(bulk)
        assert state == _state(plain)
        assert any(":a:" in k for k in state) and any(k.endswith(":dir") for k in state)
        assert _events(bulk) == _events(plain)

        # a second bulk load into the same deployment is refused, nothing sent
        with pytest.raises(Refused, match="new deployment only"):
            bulk_load(s, Rater(load_catalog(s.catalog)), bulk.store, cmds)
        assert len(bulk.read(s.topics.commands)) == len(cmds)
