"""`rater record`, `rater snapshot` and `rater replay` refuse what they cannot use with
one line naming the option or file and why, and exit code 2 (the options before
anything is read or written)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rater.cli import app
from tests.unit.replay.kit import CATALOG, SUBSCRIBERS, USAGE

REPLAY = ["replay", "--catalog", str(CATALOG)]
USAGE_IN = ["--input", str(USAGE)]
SUBS = [*USAGE_IN, "--subscribers", str(SUBSCRIBERS)]  # a usage file and its subscribers


def _refused(args: list[str]) -> str:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [x for x in result.output.splitlines() if x.strip()]
    assert lines[-1].startswith("error: ")
    return lines[-1]


@pytest.mark.parametrize(
    ("args", "why"),
    [
        ([], "give the input: --input FILE or --topics"),
        ([*USAGE_IN, "--topics"], "give the input: --input FILE or --topics"),
        ([*USAGE_IN], "a usage file holds no subscribers; give --subscribers or --state"),
        (["--input", "/nonexistent.avro"], "--input /nonexistent.avro: no such file"),
        (
            [*SUBS, "--state", "s.jsonl"],
            "--subscribers and --state: start from one of them",
        ),
        (
            [*SUBS, "--store", "redis"],
            "--store redis needs --namespace NS",
        ),
        (
            [*SUBS, "--store", "redis", "--namespace", "rater"],
            "--namespace rater: the live namespace",
        ),
        (
            [*SUBS, "--namespace", "mine"],
            "--namespace and --fresh go with --store redis",
        ),
        (
            [*SUBS, "--from", "2026-05-01T00:00:00+08:00", "--to", "2026-04-01T00:00:00+08:00"],
            "--from must be before --to",
        ),
        (
            [*SUBS, "--issued", "/nonexistent.jsonl"],
            "--issued /nonexistent.jsonl: no such file",
        ),
        (
            [*SUBS, "--from", "2026-04-01"],
            "--from: '2026-04-01' is not an ISO-8601 time with a UTC offset",
        ),
    ],
)
def test_replay_refuses_with_one_line(args: list[str], why: str, tmp_path: Path) -> None:
    line = _refused([*REPLAY, "--out", str(tmp_path / "out"), *args])
    assert why in line
    assert not (tmp_path / "out").exists()


def test_replay_refuses_a_bad_snapshot_and_bad_issued_lines(tmp_path: Path) -> None:
    snap = tmp_path / "snap.jsonl"
    snap.write_text('{"accounts": 0}\n')
    out = ["--out", str(tmp_path / "out")]
    line = _refused([*REPLAY, *USAGE_IN, "--state", str(snap), *out])
    assert f"{snap}:1: not a rater snapshot header" in line
    issued = tmp_path / "issued.jsonl"
    issued.write_text('{"type": "charge"}\n')
    line = _refused([*REPLAY, *SUBS, "--issued", str(issued), *out])
    assert f"--issued {issued}:1: not an event" in line


def test_record_and_snapshot_refuse_before_connecting(tmp_path: Path) -> None:
    span = ["--from", "2026-05-01T00:00:00+08:00", "--to", "2026-04-01T00:00:00+08:00"]
    assert "--from must be before --to" in _refused(["record", *span, "--out", "x.avro"])
    assert "a directory, not a file" in _refused(["record", "--out", str(tmp_path)])
    assert "no folder" in _refused(["snapshot", "--out", str(tmp_path / "no" / "s.jsonl")])
    assert "UTC offset" in _refused(["snapshot", "--at", "2026-05-01", "--out", "s.jsonl"])
