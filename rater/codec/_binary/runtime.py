"""The runtime of the generated Avro codecs (`rater.codec._binary`): the helpers and
lookup tables the generated code calls, gathered in `RUNTIME`, its namespace."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rater.codec.errors import DecodeError, EncodeError, ErrorClass

_B = tuple(bytes((k,)) for k in range(256))  # _B[k] == bytes([k])
_ZD = tuple((c >> 1) ^ -(c & 1) for c in range(128))  # a one-byte zig-zag varint's value
# ... as a length: negative ones (odd bytes) made too large to fit any input
_LN = tuple(c >> 1 if c & 1 == 0 else 1 << 62 for c in range(128))

_LONG_MIN = -(1 << 63)
_LONG_MAX = (1 << 63) - 1
_INT_MIN = -(1 << 31)
_INT_MAX = (1 << 31) - 1


class _Bad(ValueError):
    """Malformed input found by a generated decoder (or bad value in an encoder)."""


# --- runtime helpers used by the generated code ---------------------------------------


def _read_varint(b: bytes, i: int, c: int, max_bits: int) -> tuple[int, int]:
    """Continues a zig-zag varint whose first byte `c` (>= 0x80) has been consumed."""
    n = c & 0x7F
    shift = 7
    while True:
        c = b[i]
        i += 1
        n |= (c & 0x7F) << shift
        if c < 0x80:
            break
        shift += 7
        if shift >= max_bits:
            raise _Bad(f"varint longer than {(max_bits + 6) // 7} bytes")
    if n >> max_bits:
        raise _Bad(f"varint does not fit {max_bits} bits")
    return (n >> 1) ^ -(n & 1), i


def _read_long(b: bytes, i: int, c: int) -> tuple[int, int]:
    """`_read_varint(b, i, c, 64)`, unrolled for up to 6 bytes (epoch ms need 6)."""
    n = c & 0x7F
    c = b[i]
    if c < 0x80:
        n |= c << 7
        return (n >> 1) ^ -(n & 1), i + 1
    n |= (c & 0x7F) << 7
    c = b[i + 1]
    if c < 0x80:
        n |= c << 14
        return (n >> 1) ^ -(n & 1), i + 2
    n |= (c & 0x7F) << 14
    c = b[i + 2]
    if c < 0x80:
        n |= c << 21
        return (n >> 1) ^ -(n & 1), i + 3
    n |= (c & 0x7F) << 21
    c = b[i + 3]
    if c < 0x80:
        n |= c << 28
        return (n >> 1) ^ -(n & 1), i + 4
    n |= (c & 0x7F) << 28
    c = b[i + 4]
    if c < 0x80:
        n |= c << 35
        return (n >> 1) ^ -(n & 1), i + 5
    return _long_tail(b, i + 5, n | (c & 0x7F) << 35)


def _long_tail(b: bytes, i: int, n: int) -> tuple[int, int]:
    shift = 42
    while True:
        c = b[i]
        i += 1
        n |= (c & 0x7F) << shift
        if c < 0x80:
            break
        shift += 7
        if shift >= 64:
            raise _Bad("varint longer than 10 bytes")
    if n >> 64:
        raise _Bad("varint does not fit 64 bits")
    return (n >> 1) ^ -(n & 1), i


def _read_enum(b: bytes, i: int, c: int, symbols: tuple[Any, ...]) -> tuple[Any, int]:
    """The enum symbol whose index starts with byte `c` (slow path: not one valid byte)."""
    n, i = (_ZD[c], i) if c < 0x80 else _read_long(b, i, c)
    if n < 0 or n >= len(symbols):
        raise _Bad(f"enum index {n} out of range")
    return symbols[n], i


def _read_size(b: bytes, i: int, c: int, size: int, what: str) -> tuple[int, int]:
    """(start, end) of a string or bytes whose length varint starts with byte `c` >= 0x80
    (slow path), checked against the input `size`."""
    n, i = _read_long(b, i, c)
    if n < 0 or i + n > size:
        raise _Bad(f"{what} length {n} out of range")
    return i, i + n


def _read_int(b: bytes, i: int, c: int) -> tuple[int, int]:
    return _read_varint(b, i, c, 32)


def _varint(n: int) -> bytes:
    """Plain (not zig-zag) varint of `n` >= 0."""
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


# Lookup tables for the encoders (~1.6 MB of small bytes objects, built once):
# _VAR[n] is the varint of n < 2**14 (one or two bytes); _C14[n] the two bytes of the 14
# low bits of a longer varint (both with the continuation bit); _ZZ[v] the zig-zag varint
# of -2**13 <= v < 2**13 (negative v index from the end, as Python does), so a small long
# is written by one tuple subscript.
_VAR = tuple(_varint(n) for n in range(1 << 14))
_C14 = tuple(bytes((n & 0x7F | 0x80, n >> 7 | 0x80)) for n in range(1 << 14))
_ZZ = tuple(_VAR[v << 1] for v in range(1 << 13)) + tuple(
    _VAR[(~v << 1) | 1] for v in range(-(1 << 13), 0)
)
ZZ_LIMIT = 1 << 13  # -ZZ_LIMIT <= v < ZZ_LIMIT: _ZZ[v] is the encoding of v


def write_long(v: object) -> bytes:
    """Zig-zag varint of an Avro long (range-checked)."""
    if v.__class__ is not int and not isinstance(v, int):
        raise _Bad(f"expected an int, got {type(v).__name__}")
    if v >= 0:
        if v > _LONG_MAX:
            raise _Bad(f"{v} out of range for an Avro long")
        n = v << 1
    else:
        if v < _LONG_MIN:
            raise _Bad(f"{v} out of range for an Avro long")
        n = (~v << 1) | 1
    # 14 bits at a time from the tables, up to 6 bytes (epoch milliseconds), then a loop
    if n < 0x4000:
        return _VAR[n]
    if n < 0x200000:
        return _C14[n & 0x3FFF] + _B[n >> 14]
    if n < 0x10000000:
        return _C14[n & 0x3FFF] + _VAR[n >> 14]
    if n < 0x800000000:
        return _C14[n & 0x3FFF] + _C14[n >> 14 & 0x3FFF] + _B[n >> 28]
    if n < 0x40000000000:
        return _C14[n & 0x3FFF] + _C14[n >> 14 & 0x3FFF] + _VAR[n >> 28]
    return _varint(n)


def _write_int(v: object) -> bytes:
    """Zig-zag varint of an Avro int (range-checked)."""
    if isinstance(v, int) and not _INT_MIN <= v <= _INT_MAX:
        raise _Bad(f"{v} out of range for an Avro int")
    return write_long(v)


_CACHE_SIZE = 8192  # entries per field; the cache is emptied when full
_CACHE_MAX_LEN = 128  # longer strings are not cached


def _cache_string(cache: dict[str, bytes], v: str, tag: bytes) -> bytes:
    """`tag` + the length-prefixed UTF-8 of `v`, remembered in `cache` (a miss of
    `cache.get(v)` in a generated encoder; non-strings fail in `.encode()`)."""
    data = v.encode()
    n = len(data)
    out = tag + (_ZZ[n] if n < ZZ_LIMIT else write_long(n)) + data
    if v.__class__ is str and n <= _CACHE_MAX_LEN:
        if len(cache) >= _CACHE_SIZE:
            cache.clear()
        cache[v] = out
    return out


def _as_bytes(v: object) -> bytes:
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v)
    raise _Bad(f"expected bytes, got {type(v).__name__}")


def _input_bytes(b: object, name: str) -> bytes:
    if isinstance(b, bytes | bytearray | memoryview):
        return bytes(b)
    raise DecodeError(ErrorClass.DECODE_ERROR, f"{name}: expected bytes, got {type(b).__name__}")


def _where(exc: BaseException, where: Mapping[int, str]) -> str:
    tb = exc.__traceback__
    return where.get(tb.tb_lineno, "") if tb is not None else ""


def _decode_failure(
    name: str, exc: BaseException, i: int, size: int, where: Mapping[int, str]
) -> DecodeError:
    field = _where(exc, where)
    at = f"{name}.{field}" if field else name
    if size == 0:
        why = "empty message"
    elif isinstance(exc, IndexError):
        why = "truncated input"
    elif isinstance(exc, UnicodeDecodeError):
        why = "string is not valid UTF-8"
    else:
        why = str(exc) or type(exc).__name__
    return DecodeError(ErrorClass.DECODE_ERROR, f"{at}: {why} (near byte {i} of {size})")


def _encode_failure(name: str, exc: BaseException, where: Mapping[int, str]) -> EncodeError:
    field = _where(exc, where)
    at = f"{name}.{field}" if field else name
    return EncodeError(f"cannot encode {at}: {type(exc).__name__}: {exc}")


def _trailing(name: str, i: int, size: int) -> DecodeError:
    return DecodeError(
        ErrorClass.SCHEMA_MISMATCH,
        f"{name}: {size - i} unexpected byte(s) after the record (written with another schema?)",
    )


RUNTIME: dict[str, object] = {
    "_B": _B,
    "_Bad": _Bad,
    "_rl": _read_long,
    "_ri": _read_int,
    "_re": _read_enum,
    "_rs": _read_size,
    "_LN": _LN,
    "_new": object.__new__,
    "_ZD": _ZD,
    "_wl": write_long,
    "_wi": _write_int,
    "_ZZ": _ZZ,
    "_VAR": _VAR,
    "_C14": _C14,
    "_sc": _cache_string,
    "_as_bytes": _as_bytes,
    "_input_bytes": _input_bytes,
    "_decode_failure": _decode_failure,
    "_encode_failure": _encode_failure,
    "_trailing": _trailing,
    "_DEC_ERRS": (IndexError, ValueError, TypeError),
    "_ENC_ERRS": (AttributeError, KeyError, IndexError, TypeError, ValueError),
}
