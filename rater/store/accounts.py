"""The stores' form of an account: two MessagePack arrays, encoded and decoded by msgspec.

A store writes every account a batch touched, and the stream reads most of them back
from Redis when it has many subscribers (a cache miss per record), so this runs once or
twice per record. Through `Account.to_dict` and JSON it took 15 - 24 µs to encode an
account and 12 - 22 µs to decode one on this project's benchmark box; here msgspec walks
the rows (`Bucket`, `Subscription` and `FeeAccrual` are msgspec structs) in C: 0.38 and
0.7 of that, and the cold part is 348 bytes against 976 (docs/benchmarks.md).

The two parts, as in rater.core.state's JSON form:

- cold: `[key, next_due, [line, ...]]`, a line being its fields in declaration order
  (`seen` and `order` left out) with its hot counters and its buckets' `used` and
  `notified` at 0. A store writes it only when its bytes changed. Positional: a field
  added to `Line` or `Bucket` changes the form (tests/unit/store/test_account_form.py
  pins it), and needs a way to read what is stored.
- hot: `[clock, [[data_used, overage_bytes, overage_fen, last_usage, [used, ...],
  [notified, ...]], ...]]`, about 40 bytes, written with every change.

Stored JSON (`{...}`, what rater wrote before this form) is still read.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from operator import attrgetter
from typing import Any, Final

import msgspec
import orjson
from msgspec.structs import replace as _replace

from rater.core.state import Account, Line, with_hot

# Line's stored fields in declaration order, and where its hot counters are among them.
_FIELDS: Final = tuple(f for f in Line.__dataclass_fields__ if f not in ("seen", "order"))
_SEEN_AT: Final = tuple(Line.__dataclass_fields__).index("seen")
_HOT_FIELDS: Final = ("data_used", "overage_bytes", "overage_fen", "last_usage")
_HOT: Final = tuple(_FIELDS.index(f) for f in _HOT_FIELDS)
_BUCKETS: Final = _FIELDS.index("buckets")
_line_fields = attrgetter(*_FIELDS)
_new_line: Final[Callable[..., Line]] = Line  # positional, the stored order

_hints = typing.get_type_hints(Line)
# a line's row: a tuple of its stored fields' types, built from Line's annotations
_LineRow: Any = tuple.__class_getitem__(tuple(_hints[f] for f in _FIELDS))
_Cold: Any = tuple[str, int, list[_LineRow]]
_HotLine = tuple[int, int, int, int, list[int], list[int]]
_Hot = tuple[int, list[_HotLine]]

_encode: Final = msgspec.msgpack.Encoder().encode
_decode_cold: Final = msgspec.msgpack.Decoder(_Cold).decode
_decode_hot: Final = msgspec.msgpack.Decoder(_Hot).decode


class NotAnAccount(ValueError):
    """Stored bytes that are not an account in either form."""


def encode(acct: Account) -> tuple[bytes, bytes]:
    """(cold, hot): the account's two stored parts. The account is not changed: the
    cold part gets copies of the buckets with their hot counters at 0."""
    rows: list[list[Any]] = []
    hot_lines: list[tuple[Any, ...]] = []
    du, ob, of, lu = _HOT
    for line in acct.lines.values():
        row = list(_line_fields(line))
        buckets = row[_BUCKETS]
        hot_lines.append(
            (
                row[du],
                row[ob],
                row[of],
                row[lu],
                [b.used for b in buckets],
                [b.notified for b in buckets],
            )
        )
        row[du] = row[ob] = row[of] = row[lu] = 0
        row[_BUCKETS] = [_replace(b, used=0, notified=0) for b in buckets]
        rows.append(row)
    return _encode((acct.key, acct.next_due, rows)), _encode((acct.clock, hot_lines))


def decode(cold: bytes, hot: bytes) -> Account:
    """The account from its two stored parts (either form)."""
    if cold[:1] == b"{":
        try:
            return Account.from_dict(with_hot(orjson.loads(cold), orjson.loads(hot)))
        except (ValueError, TypeError, KeyError, IndexError) as e:
            raise NotAnAccount(f"not a stored account (JSON): {e!r}") from None
    try:
        key, next_due, rows = _decode_cold(cold)
        clock, hot_lines = _decode_hot(hot)
        acct = Account(key, {}, clock, next_due)
        lines = acct.lines
        du, ob, of, lu = _HOT
        for row, (data_used, overage_bytes, overage_fen, last_usage, used, notified) in zip(
            rows, hot_lines, strict=True
        ):
            values: list[Any] = list(row)
            values[du], values[ob], values[of], values[lu] = (
                data_used,
                overage_bytes,
                overage_fen,
                last_usage,
            )
            for b, u, n in zip(values[_BUCKETS], used, notified, strict=True):
                b.used = u
                b.notified = n
            line = _new_line(*values[:_SEEN_AT], {}, *values[_SEEN_AT:])
            lines[line.msisdn] = line
    except (msgspec.DecodeError, ValueError) as e:
        raise NotAnAccount(f"not a stored account: {e}") from None
    return acct
