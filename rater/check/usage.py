"""`rater check` of a usage file (`--usage`): what the stream would dead-letter."""

from __future__ import annotations

from pathlib import Path

from rater.check.problems import Problem
from rater.codec.validate import check_usage
from rater.core.inputs import UsageRecord


def check_usage_file(
    path: Path, known: dict[str, int], files: str, now_ms: int, max_future_ms: int
) -> list[Problem]:
    """Every line `rater.jobs.files.read_usage` cannot read, every record `check_usage`
    refuses, and one problem per MSISDN no file creates (its count, at its first line)."""
    from rater.jobs.files import read_usage

    src = str(path)
    if not path.is_file():
        return [Problem(src, 0, "", "no such file", "usage")]
    problems: list[Problem] = []
    unknown: dict[str, list[int]] = {}  # msisdn -> [first line, records]
    with path.open("rb") as f:
        # read_usage yields one item per non-blank line of a JSON lines file, in order;
        # an Avro container has no lines: its records are numbered from 1
        avro = f.read(4) == b"Obj\x01"
        f.seek(0)
        lines = iter(range(1, 1 << 62)) if avro else (n for n, r in enumerate(f, 1) if r.strip())
        for item in read_usage(path):
            n = next(lines)
            if not isinstance(item, UsageRecord):
                bad, _ = item
                problems.append(
                    Problem(src, bad.line, "record", f"not a usage record: {bad.reason}", "usage")
                )
                continue
            found = check_usage(item, now_ms, max_future_ms)
            if found is not None:
                problems.append(Problem(src, n, "record", f"{found[0]}: {found[1]}", "usage"))
                continue
            if item.msisdn not in known:
                seen = unknown.setdefault(item.msisdn, [n, 0])
                seen[1] += 1
    for msisdn, (first, count) in unknown.items():
        records = f"{count} record{'s' if count != 1 else ''}"
        why = f"no subscriber {msisdn} in {files}: {records} (UNKNOWN_SUBSCRIBER), the first here"
        problems.append(Problem(src, first, "msisdn", why, "usage"))
    problems.sort(key=lambda p: p.line)
    return problems
