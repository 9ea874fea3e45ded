"""The offline job (`rater simulate`): the stream's pipeline over emulated partitions.
The same events whatever the chunk size; commands applied at their time among the
usage (an order does not reach back before it, or into an earlier cycle); a commands
file read strictly."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
import pytest

from rater.catalog import load_catalog
from rater.codec.jsonl import event_from_json, usage_to_json
from rater.core.cycles import to_ms
from rater.core.engine import Rater
from rater.core.events import ChargeEvent, Event, UnratedEvent
from rater.core.inputs import Command, OrderProduct, Roaming, Tick, UsageRecord, UsageType
from rater.jobs.files import CommandsError, in_time_order, read_commands, read_usage
from rater.jobs.offline import OfflineRun, rate_offline
from rater.subscribers import load_subscribers, parse_subscribers, to_commands

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
CATALOG = EXAMPLES / "catalog-basic.yaml"
SUBSCRIBERS = EXAMPLES / "subscribers-basic.yaml"
USAGE = EXAMPLES / "usage-basic.jsonl"
MAY = to_ms("2026-05-01T00:00:00+08:00")
MB = 1 << 20


@pytest.fixture(scope="module")
def rater() -> Rater:
    return Rater(load_catalog(CATALOG))


def _run(
    rater: Rater,
    commands: Iterable[Command | Tick],
    usage: Iterable[Any],
    chunk: int = 50_000,
    partitions: int = 4,
) -> tuple[list[bytes], list[bytes], str]:
    """(event lines, dead letter lines, summary) of an offline run."""
    events, dead = io.BytesIO(), io.BytesIO()
    job = OfflineRun(rater, events, dead, chunk=chunk, partitions=partitions)
    job.commands(commands)
    job.usage(usage)
    return events.getvalue().splitlines(), dead.getvalue().splitlines(), job.summary.text()


def _events(lines: list[bytes]) -> list[Event]:
    return [event_from_json(orjson.loads(line)) for line in lines]


def _charge(events: list[Event], record_id: str) -> ChargeEvent:
    (c,) = [e for e in events if isinstance(e, ChargeEvent) and e.record_id == record_id]
    return c


def _draws(c: ChargeEvent) -> list[tuple[str, int]]:
    return [(d.product, d.amount) for d in c.draws]


def _data(rid: str, msisdn: str, at: str, nbytes: int, province: str = "GD") -> UsageRecord:
    return UsageRecord(
        rid, msisdn, UsageType.DATA, to_ms(at), 600, 0, nbytes, None, None, province, "LTE",
        Roaming.HOME, None, 0,
    )  # fmt: skip


def _subscriber(**extra: Any) -> list[Command]:
    """One P58 line (3 GB), no packs, activated on 1 March (April is a full cycle)."""
    entry = {
        "msisdn": "13800000009",
        "plan": "P58",
        "home_province": "GD",
        "activated": "2026-03-01T00:00:00+08:00",
        **extra,
    }
    return to_commands(parse_subscribers({"subscribers": [entry]}))


# -- chunk sizes ------------------------------------------------------------------------


def test_the_same_events_whatever_the_chunk_size(rater: Rater) -> None:
    commands = [*to_commands(load_subscribers(SUBSCRIBERS)), Tick(MAY)]
    runs = {c: _run(rater, commands, read_usage(USAGE), chunk=c) for c in (1, 7, 50_000)}
    events, dead, summary = runs[50_000]
    assert len(events) > 100 and len(dead) == 2  # the broken line, the unknown subscriber
    for chunk in (1, 7):
        got_events, got_dead, got_summary = runs[chunk]
        assert Counter(got_events) == Counter(events), f"chunk={chunk}"
        assert Counter(got_dead) == Counter(dead), f"chunk={chunk}"
        assert got_summary == summary
    # and per line (MSISDN), in the same order: the order of an account's events is the
    # order its inputs were applied in
    for chunk in (1, 7):
        assert _by_msisdn(runs[chunk][0]) == _by_msisdn(events)


def test_the_same_state_and_watermarks_whatever_the_chunk_size(rater: Rater) -> None:
    commands = [*to_commands(load_subscribers(SUBSCRIBERS)), Tick(MAY)]
    ends = []
    for chunk in (1, 7, 50_000):
        job = OfflineRun(rater, io.BytesIO(), chunk=chunk)
        job.commands(commands)
        job.usage(read_usage(USAGE))
        store = job.store
        accounts = {k: a.to_dict() for k, a in store.accounts().items()}
        ends.append((accounts, {n: store.watermark(n)[0] for n in store.partitions}))
    assert ends[0] == ends[1] == ends[2]
    accounts, watermarks = ends[0]
    assert len(accounts) == 4  # 13800000004 shares 13800000003's account
    # every input applied: the watermarks are the ends of the emulated partitions
    assert sum(wm.get("rater.usage", 0) for wm in watermarks.values()) == 18  # 19 lines, 1 bad


def _by_msisdn(lines: list[bytes]) -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = {}
    for line in lines:
        out.setdefault(orjson.loads(line)["msisdn"], []).append(line)
    return out


def test_rate_offline_is_the_job_with_a_closing_tick(rater: Rater) -> None:
    commands = to_commands(load_subscribers(SUBSCRIBERS))
    events = io.BytesIO()
    summary, store = rate_offline(rater, commands, read_usage(USAGE), MAY, events)
    lines, _, text = _run(rater, [*commands, Tick(MAY)], read_usage(USAGE))
    assert Counter(events.getvalue().splitlines()) == Counter(lines)
    assert summary.text() == text
    assert summary.records == 16 and summary.duplicates == 1 and summary.bad_lines == 1
    assert store.directory()["13800000004"] == "13800000003"  # a sharing member


# -- commands at their time -------------------------------------------------------------


def test_an_order_in_a_later_cycle_does_not_make_earlier_records_late(rater: Rater) -> None:
    commands = _subscriber(orders=[{"product": "T1G", "at": "2026-05-10T09:00:00+08:00"}])
    usage = [
        _data("apr-1", "13800000009", "2026-04-05T12:00:00+08:00", 100 * MB),
        _data("apr-2", "13800000009", "2026-04-28T12:00:00+08:00", 100 * MB),
        _data("may-1", "13800000009", "2026-05-12T12:00:00+08:00", 100 * MB),
    ]
    for chunk in (1, 50_000):
        events = _events(_run(rater, commands, usage, chunk=chunk)[0])
        assert not [e for e in events if isinstance(e, UnratedEvent)]
        assert _draws(_charge(events, "apr-1"))[0][0] == "P58"
        assert _charge(events, "apr-2").cycle == "2026-04-01"
        assert _charge(events, "may-1").cycle == "2026-05-01"
        assert _charge(events, "may-1").cycle == "2026-05-01"
        (fee,) = [e for e in events if isinstance(e, ChargeEvent) and e.product == "T1G"]
        assert fee.cycle == "2026-05-01"


def test_an_order_mid_cycle_changes_only_the_records_after_it(rater: Rater) -> None:
    """The plan's 3 GB are used up on 5 April; a 1 GB top-up is ordered on 10 April. A
    record before the order is charged overage, one after it is drawn from the pack,
    whether the usage comes in one chunk or one record at a time."""
    commands = _subscriber(orders=[{"product": "T1G", "at": "2026-04-10T09:00:00+08:00"}])
    usage = [
        _data("use-up", "13800000009", "2026-04-05T12:00:00+08:00", 3 << 30),
        _data("before", "13800000009", "2026-04-08T12:00:00+08:00", 10 * MB),
        _data("after", "13800000009", "2026-04-12T12:00:00+08:00", 10 * MB),
    ]
    for chunk in (1, 50_000):
        events = _events(_run(rater, commands, usage, chunk=chunk)[0])
        assert _draws(_charge(events, "use-up")) == [("P58", 3 << 30)]
        before = _charge(events, "before")
        assert (_draws(before), before.overage, before.fen) == ([], 10 * MB, 10 * 29)
        after = _charge(events, "after")
        assert (_draws(after), after.overage, after.fen) == ([("T1G", 10 * MB)], 0, 0)
        (fee,) = [e for e in events if isinstance(e, ChargeEvent) and e.product == "T1G"]
        assert fee.event_time == to_ms("2026-04-10T09:00:00+08:00")
        # applied in time order: the account's events come out in that order
        assert events.index(before) < events.index(fee) < events.index(after)


# -- a commands file --------------------------------------------------------------------


def _write_lines(path: Path, objs: list[Any]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(o) + b"\n" for o in objs))
    return path


def test_a_commands_file_is_applied_at_its_time(rater: Rater, tmp_path: Path) -> None:
    path = _write_lines(
        tmp_path / "commands.jsonl",
        [
            {
                "type": "order",
                "command_id": "ops-1",
                "msisdn": "13800000009",
                "time": "2026-04-10T09:00:00+08:00",
                "product": "T1G",
            },
            {"type": "tick", "time": "2026-04-11T00:00:00+08:00"},
        ],
    )
    from_file = read_commands(path)
    assert [type(c) for c in from_file] == [OrderProduct, Tick]
    commands = in_time_order(list(_subscriber()), from_file)
    assert [c.time for c in commands] == sorted(c.time for c in commands)
    usage = [
        _data("use-up", "13800000009", "2026-04-05T12:00:00+08:00", 3 << 30),
        _data("before", "13800000009", "2026-04-08T12:00:00+08:00", 10 * MB),
        _data("after", "13800000009", "2026-04-12T12:00:00+08:00", 10 * MB),
    ]
    events = _events(_run(rater, commands, usage, chunk=1)[0])
    before, after = _charge(events, "before"), _charge(events, "after")
    assert before.overage == 10 * MB
    assert _draws(after) == [("T1G", 10 * MB)]
    (fee,) = [e for e in events if isinstance(e, ChargeEvent) and e.product == "T1G"]
    assert events.index(before) < events.index(fee) < events.index(after)
    # the same as the order written in the subscribers file
    same = _subscriber(orders=[{"product": "T1G", "at": "2026-04-10T09:00:00+08:00"}])
    by_subscribers = _events(_run(rater, same, usage)[0])
    assert _draws(_charge(by_subscribers, "after")) == _draws(_charge(events, "after"))


def test_in_time_order_is_stable_earlier_file_first_on_a_tie() -> None:
    a: list[Command | Tick] = [Tick(5), Tick(1)]
    b: list[Command | Tick] = [Tick(1), Tick(3)]
    merged = in_time_order(a, b)
    assert [c.time for c in merged] == [1, 1, 3, 5]
    assert merged[0] is a[1] and merged[1] is b[0]


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (b"{not json", "not JSON"),
        (b'{"type": "order", "command_id": "x", "msisdn": "1", "time": 0}', "product"),
        (b'{"type": "bogus", "time": 0}', "unknown command"),
        (orjson.dumps(usage_to_json(_data("r", "1", "2026-04-05T12:00:00+08:00", 1))), "usage"),
    ],
)
def test_a_bad_commands_line_is_refused_with_file_and_line(
    tmp_path: Path, bad: bytes, why: str
) -> None:
    path = tmp_path / "commands.jsonl"
    good = orjson.dumps({"type": "tick", "time": 0})
    path.write_bytes(good + b"\n\n" + bad + b"\n" + good + b"\n")
    with pytest.raises(CommandsError, match=rf"^{path}:3: .*{why}"):
        read_commands(path)


def test_a_missing_commands_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CommandsError, match="cannot read"):
        read_commands(tmp_path / "nope.jsonl")
