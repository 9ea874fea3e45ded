"""Reading a usage file in blocks (rater.jobs.files): whatever the block size, and
however many processes share the file, every line is read as reading it on its own
reads it (its record, or its error with its line number and bytes), by exactly one
process."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rater.codec.errors import BadInput
from rater.codec.jsonl import usage_from_json, usage_line, usage_to_json
from rater.core.inputs import UsageRecord
from rater.jobs import files
from rater.jobs.files import SKIPPED, Reading, read_usage, read_usage_share
from rater.routing import partition_of
from rater.workload import subscribers as gen_subscribers
from rater.workload import usage as gen_usage
from tests.unit.pipeline.conftest import CATALOG, END, START

SUBS = gen_subscribers(CATALOG, 20, START - 86_400_000, spread_days=1)
GOOD = [orjson.dumps(usage_to_json(r)) for r in gen_usage(CATALOG, SUBS, 40, START, END)]
ODD = [
    b"",
    b"   ",
    b"\r",
    b"not JSON at all",
    b"[1, 2]",
    b'{"msisdn": 13800000000}',
    b'{"msisdn": "13800000001", "start_time": "x"}',
    b'{"msisdn": "13800000002"} {"msisdn": "13800000003"}',
    b'{"msisdn": "13800000004", "msisdn": "13800000005", "usage_type": "DATA"}',
    GOOD[0][:-1] + b', "extra": 1}',  # an unknown field: the strict path's error
    GOOD[1].replace(b'"start_time":', b'"start_time":"2026-04-01T10:00:00+08:00","x":'),
    b'{"record_id": "big", "msisdn": "13800000006", "uplink_bytes": 123456789012345678901}',
    GOOD[2] + b"\r",  # a CRLF line
    b"\xff\xfe not UTF-8",
]


def _expected(raw_lines: list[bytes], last_ended: bool, path: Path) -> list[object]:
    """Each line read on its own, as the strict reader reads it: the reference."""
    out: list[object] = []
    for n, line in enumerate(raw_lines, start=1):
        raw = line + b"\n" if last_ended or n < len(raw_lines) else line
        if not raw.strip():
            continue
        rec = usage_line(raw)
        if rec is not None:
            out.append(rec)
            continue
        try:
            out.append(usage_from_json(orjson.loads(raw)))
        except orjson.JSONDecodeError as e:
            out.append((path.name, n, f"not JSON: {e}", raw))
        except Exception as e:
            out.append((path.name, n, str(e), raw))
    return out


def _plain(item: object) -> object:
    if isinstance(item, UsageRecord):
        return item
    bad, raw = cast(tuple[BadInput, bytes], item)
    return (Path(bad.source).name, bad.line, bad.reason, raw)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    picks=st.lists(
        st.one_of(st.sampled_from(GOOD), st.sampled_from(ODD), st.just(b"x" * 300)),
        min_size=1,
        max_size=60,
    ),
    block=st.sampled_from([16, 64, 200, 1 << 15]),
    last_ended=st.booleans(),
    shares=st.sampled_from([2, 3]),
    many=st.booleans(),
)
def test_blocks_and_shares_read_each_line_as_it_reads_alone(
    picks: list[bytes],
    block: int,
    last_ended: bool,
    shares: int,
    many: bool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(files, "BLOCK_BYTES", block)
    path = tmp_path / "usage.jsonl"
    path.write_bytes(b"\n".join(picks) + (b"\n" if last_ended else b""))
    expected = _expected(picks, last_ended, path)

    assert [_plain(x) for x in read_usage(path)] == expected

    # several processes: each line by exactly one, the others count it as SKIPPED
    seen: list[list[object]] = []
    for index in range(shares):
        reading = Reading(path)
        owns = reading.owns = lambda m, i=index: (
            i == 0 if m is None else partition_of(m.encode(), 8) % shares == i
        )
        if many:  # a block's lines asked at once, as the offline jobs ask
            reading.owns_many = lambda ms, owns=owns: [owns(m) for m in ms]
        seen.append(list(read_usage_share(path, reading)))
        assert reading.done == path.stat().st_size
    assert len({len(s) for s in seen}) == 1, "every process counts the same lines"
    merged = []
    for items in zip(*seen, strict=True):
        mine = [x for x in items if x is not SKIPPED]
        assert len(mine) == 1, f"a line read by {len(mine)} processes"
        merged.append(_plain(mine[0]))
    assert merged == expected
