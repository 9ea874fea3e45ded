"""`rater report`: filters (subscriber, time with UTC offset, kind), JSON lines, a
streamed events file; over `rater simulate`'s files or read_events monkeypatched."""

from __future__ import annotations

import io
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from rater.catalog import load_catalog
from rater.cli import app
from rater.core.cycles import to_ms
from rater.core.engine import Rater
from rater.jobs.offline import rate_offline, read_usage
from rater.report import Filter, ReportKind, read_dead_letters_file, read_events_file
from rater.subscribers import load_subscribers, to_commands

EX = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    events, dead = io.BytesIO(), io.BytesIO()
    rate_offline(
        Rater(load_catalog(EX / "catalog-basic.yaml")),
        list(to_commands(load_subscribers(EX / "subscribers-basic.yaml"))),
        lambda: read_usage(EX / "usage-basic.jsonl"),
        to_ms("2026-05-01T00:00:00+08:00"),
        events,
        dead,
    )
    folder = tmp_path_factory.mktemp("report")
    (folder / "events.jsonl").write_bytes(events.getvalue())
    (folder / "dead.jsonl").write_bytes(dead.getvalue())
    return folder / "events.jsonl", folder / "dead.jsonl"


def _report(run: tuple[Path, Path], *args: str) -> str:
    r = CliRunner().invoke(
        app, ["report", "--events", str(run[0]), "--dead-letters", str(run[1]), *args]
    )
    assert r.exit_code == 0, r.output
    return r.output


def test_table_and_dead_letters(run: tuple[Path, Path]) -> None:
    out = _report(run)
    assert "Output events in" in out and ": 162" in out
    assert "13800000001" in out and "505.09 CNY" in out
    assert "UNKNOWN_SUBSCRIBER: 1" in out and "DECODE_ERROR: 1" in out


def test_json_filters(run: tuple[Path, Path]) -> None:
    out = _report(
        run,
        "--json",
        "--msisdn",
        "13800000002",
        "--kind",
        "charge",
        "--since",
        "2026-04-20T00:00:00+08:00",
        "--until",
        "2026-04-21T10:00:00+08:00",
    )
    rows = [orjson.loads(x) for x in out.splitlines()]
    assert rows
    assert {r["msisdn"] for r in rows} == {"13800000002"}
    assert {r["type"] for r in rows} == {"charge"}
    since, until = to_ms("2026-04-20T00:00:00+08:00"), to_ms("2026-04-21T10:00:00+08:00")
    assert all(since <= r["event_time"] < until for r in rows)
    assert "charge:13800000002:2026-04-01:20563:ex6-used-up" in {r["event_id"] for r in rows}
    # until is exclusive: d5-over is at 2026-04-21T10:00+08:00
    assert "charge:13800000002:2026-04-01:20564:d5-over" not in {r["event_id"] for r in rows}


def test_since_with_another_offset(run: tuple[Path, Path]) -> None:
    a = _report(run, "--json", "--since", "2026-04-20T00:00:00+08:00")
    b = _report(run, "--json", "--since", "2026-04-19T16:00:00+00:00")
    assert a == b and a


def test_kind_deadletter_only(run: tuple[Path, Path]) -> None:
    out = _report(run, "--json", "--kind", "deadletter")
    rows = [orjson.loads(x) for x in out.splitlines()]
    assert [r["type"] for r in rows] == ["deadletter", "deadletter"]
    assert {r["error_class"] for r in rows} == {"DECODE_ERROR", "UNKNOWN_SUBSCRIBER"}
    text = _report(run, "--kind", "unrated", "--kind", "throttle")
    assert "Output events in" in text and "Dead letters" not in text


def test_time_without_offset_is_refused(run: tuple[Path, Path]) -> None:
    r = CliRunner().invoke(
        app, ["report", "--events", str(run[0]), "--since", "2026-04-20T00:00:00"]
    )
    assert r.exit_code == 2
    assert "--since" in r.output


def test_file_readers_stream(run: tuple[Path, Path]) -> None:
    it = read_events_file(run[0])
    assert next(it).event_id  # a generator: one event at a time
    dead = list(read_dead_letters_file(run[1]))
    f = Filter(msisdns=frozenset({"13999999999"}), kinds=frozenset({ReportKind.DEADLETTER}))
    assert [d.error_class for d in dead if f.dead(d)] == ["UNKNOWN_SUBSCRIBER"]


def test_report_from_topics_monkeypatched(
    run: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import rater.stream.tools as tools

    events = list(read_events_file(run[0]))
    monkeypatch.setattr(tools, "iter_events", lambda s: iter(events))
    monkeypatch.setattr(tools, "iter_topic", lambda s, topic: iter([]))
    r = CliRunner().invoke(app, ["report", "--msisdn", "13800000005", "--kind", "notification"])
    assert r.exit_code == 0, r.output
    assert "13800000005" in r.output and "13800000001" not in r.output
