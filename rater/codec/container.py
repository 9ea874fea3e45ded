"""Usage records from an Avro object container file (`rater simulate --usage` and
`rater replay --input` accept one beside JSON lines): each record checked as a JSON
line is. Apart from rater.codec.avro, which the JSON codec derives its shapes from."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import IO

import fastavro

from rater.codec.avro import USAGE
from rater.codec.errors import BadInput, DecodeError
from rater.codec.jsonl import usage_from_json
from rater.core.inputs import UsageRecord

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def read_usage_container(
    fo: IO[bytes], source: str, on_bad: Callable[[BadInput], None]
) -> Iterator[UsageRecord]:
    """Usage records from an Avro object container file (any codec fastavro reads),
    written with this or a compatible version of the usage schema (resolved by Avro's
    rules). Each record gets the same checks as a JSON line (`jsonl.usage_from_json`);
    a bad one is reported to `on_bad` with its 1-based position in the file and skipped.
    A file that cannot be read on (bad header, incompatible schema, corrupt block) is
    reported once, at the record where reading stopped. Offline path: not optimised."""
    try:
        records = iter(fastavro.reader(fo, reader_schema=USAGE._plain))
    except Exception as exc:  # fastavro raises many types on a bad header
        on_bad(BadInput(source, 0, f"not an Avro container file: {type(exc).__name__}: {exc}"))
        return
    n = 0
    while True:
        n += 1
        try:
            datum = next(records)
        except StopIteration:
            return
        except Exception as exc:  # a corrupt block or an incompatible writer schema
            on_bad(BadInput(source, n, f"cannot read on: {type(exc).__name__}: {exc}"))
            return
        if not isinstance(datum, dict):
            on_bad(BadInput(source, n, f"not a record: {type(datum).__name__}"))
            continue
        for k, v in datum.items():
            if isinstance(v, datetime):  # the file's schema has logical types
                datum[k] = (v - _EPOCH) // _MS
        try:
            yield usage_from_json(datum)
        except DecodeError as exc:
            on_bad(BadInput(source, n, str(exc)))
