"""Runs one fuzz target of `tests/fuzz/targets.py` under atheris (libFuzzer).

    python -m tests.fuzz.fuzz_decoders TARGET [--corpus DIR] [libFuzzer options] [FILE...]

TARGET is usage, command, framed, jsonl or arrive. With `--corpus DIR`, the target's
seeds (real encoded messages) are written into DIR, which libFuzzer then reads and adds
the inputs it finds to. Any other argument goes to libFuzzer: `-max_total_time=S`,
`-runs=N`, `-seed=N`, `-max_len=N`, `-timeout=S`, `-rss_limit_mb=N`,
`-artifact_prefix=DIR/`; a FILE runs that one input (to reproduce a crash). A crash is
an input for which the target raised: libFuzzer prints the traceback, writes the input
to `<artifact_prefix>crash-<sha1>` and exits non-zero. How the runs are set up:
`scripts/fuzz.sh` and docs/fuzzing.md.

The rater's codec, pipeline and offline reader modules are instrumented for coverage as
they are imported (not the rating core, the catalog or the store, imported before), and
so are the Avro decoders that `rater.codec._binary` generates at import (compiled from
source text, they are no module's code).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import atheris
from atheris.import_hook import instrument_imports
from atheris.instrument_bytecode import instrument_func

# atheris instruments whole top-level packages (rater, tests): what is imported before the
# hook is not instrumented, which keeps the start-up short and the coverage feedback
# about the decoders, the checks, the batch's dead-letter path and the readers
NOT_INSTRUMENTED = (
    "rater.core.engine",
    "rater.catalog.load",
    "rater.config",
    "rater.subscribers",
    "rater.metrics",
    "rater.routing",
    "rater.store.memory",
    "rater.progress",
    "rater.gc_tuning",
    "tests.unit.codec.strategies",
)


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[1].startswith("-"):
        sys.exit(__doc__)
    target, rest = argv[1], argv[2:]
    corpus: Path | None = None
    if "--corpus" in rest:
        at = rest.index("--corpus")
        corpus = Path(rest[at + 1])
        del rest[at : at + 2]
    for name in NOT_INSTRUMENTED:
        importlib.import_module(name)
    with instrument_imports(include=["rater", "tests"]):
        from rater.codec import avro
        from tests.fuzz import targets
    for t in (avro.USAGE, avro.COMMAND, avro.DEAD_LETTER):
        instrument_func(t.decode)  # generated code: patched in place
    if target not in targets.TARGETS:
        sys.exit(f"unknown target {target!r}: one of {', '.join(targets.TARGETS)}")
    if corpus is not None:
        targets.write_seeds(target, corpus)
        rest.append(str(corpus))
    atheris.Setup([argv[0], *rest], targets.TARGETS[target])
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
