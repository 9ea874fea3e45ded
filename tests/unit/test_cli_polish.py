"""The command line's edges: --version, -h, help text without type placeholders,
consistent option names, defaults that work outside the repo, progress of produce/load."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rater.cli import app
from rater.cli.common import example_catalog
from rater.core.inputs import Tick

ROOT = Path(__file__).resolve().parents[2]

COMMANDS = [
    [],
    ["simulate"],
    ["check"],
    ["run"],
    ["topics"],
    ["load"],
    ["produce"],
    ["tick"],
    ["balance"],
    ["report"],
    ["explain"],
    ["bench"],
    ["bench", "core"],
    ["bench", "simulate"],
    ["bench", "stream"],
    ["bench", "load"],
    ["deadletters"],
    ["deadletters", "list"],
    ["deadletters", "show"],
    ["deadletters", "redrive"],
]


def _help(args: list[str], flag: str = "--help") -> str:
    r = CliRunner().invoke(app, [*args, flag], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert r.exit_code == 0, r.output
    return r.output


def test_version() -> None:
    r = CliRunner().invoke(app, ["--version"])
    assert r.exit_code == 0
    assert re.fullmatch(r"rater \S+\n", r.output)


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a) or "rater")
def test_short_help_is_the_long_help(args: list[str]) -> None:
    assert _help(args, "-h") == _help(args, "--help")


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a) or "rater")
def test_help_shows_no_placeholders(args: list[str]) -> None:
    text = _help(args)
    assert not re.search(r"<[a-z][a-z ]*>", text), text
    assert not re.search(r"\{[a-z_]+\}|\{[A-Z_]+\}", text), text


def test_bench_subscriber_count_option() -> None:
    for cmd in ("core", "simulate", "stream", "load"):
        text = _help(["bench", cmd])
        assert "--subscriber-count" in text
        assert "--subscribers " not in text
    r = CliRunner().invoke(app, ["bench", "core", "--subscribers", "5"])
    assert r.exit_code == 2


def test_subscribers_is_a_file_everywhere_else() -> None:
    for cmd in (["simulate"], ["check"], ["load"], ["produce"], ["report"]):
        line = next(x for x in _help(cmd).splitlines() if "--subscribers" in x)
        assert "FILE" in line, line


def test_example_catalog_does_not_depend_on_the_folder(tmp_path: Path) -> None:
    assert example_catalog().is_file()
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "rater.cli",
            "bench",
            "core",
            "--subscriber-count",
            "20",
            "--records",
            "500",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert p.returncode == 0, p.stderr
    assert "records/s" in p.stdout


class _FakeProducer:
    def __init__(self, *a: Any, **kw: Any) -> None:
        self.sent = 0

    def produce(self, *a: Any, **kw: Any) -> None:
        self.sent += 1

    def poll(self, *a: Any) -> None:
        pass

    def flush(self, *a: Any) -> int:
        return 0


def test_produce_and_load_report_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    import rater.stream.tools as tools
    from rater.config import load_settings
    from rater.jobs.offline import read_usage
    from rater.subscribers import load_subscribers, to_commands

    monkeypatch.setattr(tools, "Producer", _FakeProducer)
    monkeypatch.setattr(tools, "partition_count", lambda s, topic: 4)
    s = load_settings(None)
    cmds = list(to_commands(load_subscribers(ROOT / "examples" / "subscribers-basic.yaml")))
    seen: list[int] = []
    n = tools.produce_commands(s, cmds, seen.append)
    assert seen[-1] == n == len(cmds)
    seen.clear()
    n, bad = tools.produce_usage(
        s,
        read_usage(ROOT / "examples" / "usage-basic.jsonl"),
        tools.account_keys(c for c in cmds if not isinstance(c, Tick)),
        seen.append,
    )
    assert seen == [n] and n > 0 and len(bad) == 1
