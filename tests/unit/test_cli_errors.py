"""Bad files and options end in one line and exit code 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EX = ROOT / "examples"
BASE = ["simulate", "--catalog", str(EX / "catalog-basic.yaml")]


def _rater(args: list[str]) -> tuple[int, str]:
    p = subprocess.run(
        [sys.executable, "-m", "rater.cli", *args], capture_output=True, text=True, cwd=ROOT
    )
    return p.returncode, p.stdout + p.stderr


@pytest.mark.parametrize(
    ("extra", "text"),
    [
        (
            ["--subscribers", str(EX / "subscribers-basic.yaml"), "--usage", str(EX)],
            "a directory, not a file",
        ),
        (
            [
                "--subscribers",
                str(EX / "subscribers-basic.yaml"),
                "--usage",
                str(EX / "usage-basic.jsonl"),
                "--out",
                "/nonexistent/x.jsonl",
            ],
            "/nonexistent/x.jsonl: No such file or directory",
        ),
        (["--subscribers", "{bad}", "--usage", str(EX / "usage-basic.jsonl")], "not UTF-8"),
    ],
)
def test_bad_files_are_one_line_and_exit_2(extra: list[str], text: str, tmp_path: Path) -> None:
    bad = tmp_path / "subscribers.yaml"
    bad.write_bytes(b'subscribers:\n  - msisdn: "\xff\xfe"\n')
    code, out = _rater(BASE + [str(bad) if x == "{bad}" else x for x in extra])
    assert code == 2, out
    assert "Traceback" not in out
    assert text in out.strip().splitlines()[-1]
