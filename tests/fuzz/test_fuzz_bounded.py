"""The bounded fuzz run of CI: every target of `tests/fuzz/targets.py` under atheris for a
fixed number of inputs (and at most `MAX_SECONDS` each), from its seed corpus, with a
fixed libFuzzer seed so that a run is repeatable. The five run as subprocesses, two at a
time (about 20 s in all on two idle cores). A failure names the input libFuzzer saved under
var/fuzz/crashes/ and the command that reproduces it. The longer run: `make fuzz`
(docs/fuzzing.md)."""

from __future__ import annotations

import re
import resource
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fuzz.targets import TARGETS

ROOT = Path(__file__).resolve().parents[2]
CRASHES = ROOT / "var" / "fuzz" / "crashes"
# inputs per target: 2 to 8 s of fuzzing each here (the rates differ 5x: the jsonl
# target goes through a file, the arrive target through the batch)
RUNS = {"usage": 100_000, "command": 60_000, "framed": 30_000, "jsonl": 20_000, "arrive": 30_000}
MAX_SECONDS = 10  # per target, whatever the machine's speed
PARALLEL = 2
SEED = 1
MAX_LEN = 2048  # bytes of one input
TIMEOUT_S = 10  # one input running longer is a hang: a failure
RSS_LIMIT_MB = 1024  # a process growing beyond is a failure (a huge allocation)


@dataclass(frozen=True)
class Run:
    target: str
    returncode: int
    output: str

    def executed(self) -> int:
        m = re.search(r"stat::number_of_executed_units:\s*(\d+)", self.output)
        return int(m.group(1)) if m else 0

    def crash_files(self) -> list[str]:
        return re.findall(r"Test unit written to (\S+)", self.output)


def _rss_limit_mb() -> int:
    """RSS_LIMIT_MB above this process's own peak: on Linux a child's peak RSS starts at
    its parent's (getrusage's maxrss is kept across fork and exec), and libFuzzer checks
    the peak, so a test process grown big by earlier tests would fail every target."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024 + RSS_LIMIT_MB


def command(target: str, corpus: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tests.fuzz.fuzz_decoders",
        target,
        "--corpus",
        str(corpus),
        f"-runs={RUNS[target]}",
        f"-max_total_time={MAX_SECONDS}",
        f"-seed={SEED}",
        f"-max_len={MAX_LEN}",
        f"-timeout={TIMEOUT_S}",
        f"-rss_limit_mb={_rss_limit_mb()}",
        f"-artifact_prefix={CRASHES}/{target}-",
        "-print_final_stats=1",
    ]


def _run(target: str, corpus: Path) -> Run:
    proc = subprocess.run(
        command(target, corpus),
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=MAX_SECONDS + 120,
    )
    return Run(target, proc.returncode, proc.stdout + proc.stderr)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Future[Run]]]:
    """All targets started at once, PARALLEL at a time; each test waits for its own."""
    CRASHES.mkdir(parents=True, exist_ok=True)
    base = tmp_path_factory.mktemp("fuzz")
    with ThreadPoolExecutor(PARALLEL) as pool:
        yield {t: pool.submit(_run, t, base / t) for t in TARGETS}


@pytest.mark.parametrize("target", list(TARGETS))
def test_no_input_escapes_the_dead_letter_path(target: str, runs: dict[str, Future[Run]]) -> None:
    run = runs[target].result()
    if run.returncode != 0:
        saved = run.crash_files()
        again = (
            f"reproduce: .venv/bin/python -m tests.fuzz.fuzz_decoders {target} {saved[0]}"
            if saved
            else "no input saved"
        )
        tail = "\n".join(run.output.splitlines()[-40:])
        pytest.fail(
            f"fuzz target {target!r} failed (exit {run.returncode}), input saved: {saved}\n"
            f"{again}\n{tail}",
            pytrace=False,
        )
    executed = run.executed()
    # every planned input ran, or the time cap came first on a slow machine
    assert executed == RUNS[target] or f"Done {executed} runs in" in run.output, run.output[-2000:]
    assert executed > 0
