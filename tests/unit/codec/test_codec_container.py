"""Avro object container files of usage records (the offline simulator's binary input)."""

from __future__ import annotations

import copy
import dataclasses
import io
from typing import Any

import fastavro
import pytest

from rater.codec import avro
from rater.codec.container import read_usage_container
from rater.codec.jsonl import BadInput
from rater.core import inputs as inp

from .strategies import avro_datum

REC = inp.UsageRecord(
    "r-1", "8613800138000", inp.UsageType.DATA, 1776526200000, 300, 1024, 4096, "wechat", 10,
    "GD", "NR", inp.Roaming.HOME, None, 1,
)  # fmt: skip
RECS = [dataclasses.replace(REC, record_id=f"r-{k}", sequence=k) for k in range(5)]


def container(schema: Any, datums: list[dict[str, Any]], codec: str = "null") -> io.BytesIO:
    buf = io.BytesIO()
    fastavro.writer(buf, fastavro.parse_schema(schema, named_schemas={}), datums, codec=codec)
    buf.seek(0)
    return buf


def read(buf: io.BytesIO) -> tuple[list[inp.UsageRecord], list[BadInput]]:
    bad: list[BadInput] = []
    return list(read_usage_container(buf, "f.avro", bad.append)), bad


@pytest.mark.parametrize("codec", ["null", "deflate"])
def test_reads_records(codec: str) -> None:
    recs, bad = read(container(avro.USAGE.schema, [avro_datum(r) for r in RECS], codec))
    assert recs == RECS and bad == []
    assert all(type(r.start_time) is int for r in recs)


def test_reads_an_older_compatible_writer() -> None:
    old = copy.deepcopy(avro.USAGE.schema)
    old["fields"] = [f for f in old["fields"] if f["name"] != "app_id"]
    datums = [{k: v for k, v in avro_datum(r).items() if k != "app_id"} for r in RECS]
    recs, bad = read(container(old, datums))
    assert recs == [dataclasses.replace(r, app_id=None) for r in RECS] and bad == []


def test_bad_records_are_reported_and_skipped() -> None:
    datums = [avro_datum(r) for r in RECS]
    datums[2]["uplink_bytes"] = -5
    recs, bad = read(container(avro.USAGE.schema, datums))
    assert [r.record_id for r in recs] == ["r-0", "r-1", "r-3", "r-4"]
    assert len(bad) == 1 and bad[0].source == "f.avro" and bad[0].line == 3
    assert "uplink_bytes: must be >= 0" in bad[0].reason


def test_not_a_container() -> None:
    recs, bad = read(io.BytesIO(b"Obj\x01garbage"))
    assert recs == [] and len(bad) == 1 and bad[0].line == 0


def test_incompatible_schema() -> None:
    other = {"type": "record", "name": "UsageRecord", "namespace": "rater.v1",
             "fields": [{"name": "record_id", "type": "long"}]}  # fmt: skip
    recs, bad = read(container(other, [{"record_id": 5}]))
    assert recs == [] and len(bad) == 1 and bad[0].line == 1
    assert "cannot read on" in bad[0].reason


def test_truncated_file() -> None:
    data = container(avro.USAGE.schema, [avro_datum(r) for r in RECS] * 50).getvalue()
    recs, bad = read(io.BytesIO(data[: len(data) - 40]))
    assert len(bad) == 1 and "cannot read on" in bad[0].reason
    assert recs == [] or recs[0] == RECS[0]
