"""The decoder generator: emits the code that reads one value of a schema from Avro
binary into a variable, and builds the bound dataclass."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from enum import Enum
from typing import Any

from rater.codec._binary.gen import Gen, Schema
from rater.codec.errors import SchemaError
from rater.frozen import fast_constructor


def _twin(cls: type[Any]) -> type[Any] | None:
    """A plain class with the slots of the frozen dataclass `cls`, for the decoders to fill
    and then switch to `cls` (`rater.frozen.fast_constructor`'s trick, inlined in the
    generated code); None where that trick does not apply."""
    if fast_constructor(cls) is cls:
        return None
    names = [f.name for f in dataclasses.fields(cls)]
    twin = type(f"_{cls.__name__}Twin", (), {"__slots__": tuple(names)})
    probe: Any = object.__new__(twin)
    for k, n in enumerate(names):
        setattr(probe, n, k)
    try:
        probe.__class__ = cls
    except TypeError:
        return None
    return twin if probe == cls(*range(len(names))) else None


class DecoderGen(Gen):
    """Emits a decoder: `begin_decoder`, the reads, `end_decoder`, then `compile`."""

    # decoding: emits code that reads one value of `schema` into variable `dst`

    def read_varint(self, ind: int, dst: str, bits: int = 64, inline: bool = False) -> None:
        """Reads a zig-zag varint: one byte inline, two and three too if `inline` (values
        up to 2**20), longer ones with a call."""
        helper = "_rl" if bits == 64 else "_ri"
        self.emit(ind, "c = b[i]; i += 1")
        self.emit(ind, "if c < 128:")
        self.emit(ind + 1, f"{dst} = _ZD[c]")
        if inline:
            self.emit(ind, "elif b[i] < 128:")
            self.emit(ind + 1, "n = c & 127 | b[i] << 7; i += 1")
            self.emit(ind + 1, f"{dst} = (n >> 1) ^ -(n & 1)")
            self.emit(ind, "elif b[i + 1] < 128:")
            self.emit(ind + 1, "n = c & 127 | (b[i] & 127) << 7 | b[i + 1] << 14; i += 2")
            self.emit(ind + 1, f"{dst} = (n >> 1) ^ -(n & 1)")
        self.emit(ind, "else:")
        self.emit(ind + 1, f"{dst}, i = {helper}(b, i, c)")

    def read(self, schema: Schema, dst: str, ind: int) -> None:
        schema = self.resolve(schema)
        prim = self.prim(schema)
        if prim in ("int", "long"):
            self.read_varint(ind, dst, 32 if prim == "int" else 64, inline=True)
        elif prim in ("string", "bytes"):
            self.emit(ind, "c = b[i]; i += 1")
            self.emit(ind, "if c < 128:")
            self.emit(ind + 1, "j = i + _LN[c]")
            self.emit(ind + 1, "if j > L:")
            self.emit(ind + 2, f"raise _Bad('{prim} length {{}} out of range'.format(_ZD[c]))")
            self.emit(ind, "else:")
            self.emit(ind + 1, f"i, j = _rs(b, i, c, L, {prim!r})")
            if prim == "string":
                self.emit(ind, f"{dst} = b[i:j].decode(); i = j")
            else:
                self.emit(ind, f"{dst} = b[i:j]; i = j")
        elif prim == "boolean":
            self.emit(ind, "c = b[i]; i += 1")
            self.emit(ind, "if c > 1:")
            self.emit(ind + 1, "raise _Bad('boolean byte {} is not 0 or 1'.format(c))")
            self.emit(ind, f"{dst} = c == 1")
        elif prim is not None:
            raise SchemaError(f"{self.name}: Avro type {prim!r} is not supported by the codec")
        elif (inner := self.nullable(schema)) is not None:
            first_null = schema[0] == "null"
            self.emit(ind, "c = b[i]; i += 1")
            self.emit(ind, f"if c == {0 if first_null else 2}:")
            self.emit(ind + 1, f"{dst} = None")
            self.emit(ind, f"elif c == {2 if first_null else 0}:")
            self.read(inner, dst, ind + 1)
            self.emit(ind, "else:")
            self.emit(ind + 1, "raise _Bad('union index out of range')")
        elif isinstance(schema, dict) and schema["type"] == "enum":
            members = self.enum_members(schema)
            syms = self.const(tuple(members), "sy")
            # by the first byte: the symbol if it is the whole index, else None
            first: list[Enum | None] = [None] * 256
            for k, m in enumerate(members[:64]):
                first[2 * k] = m
            table = self.const(tuple(first), "en")
            self.emit(ind, "c = b[i]; i += 1")
            self.emit(ind, f"{dst} = {table}[c]")
            self.emit(ind, f"if {dst} is None:")
            self.emit(ind + 1, f"{dst}, i = _re(b, i, c, {syms})")
        elif isinstance(schema, dict) and schema["type"] == "array":
            items = schema["items"]
            if self.min_size(items) < 1:
                raise SchemaError(f"{self.name}: arrays of zero-size items are not supported")
            acc, count, item = self.tmp("acc"), self.tmp("cnt"), self.tmp("it")
            self.emit(ind, f"{acc} = []")
            self.emit(ind, "while True:")
            self.read_varint(ind + 1, count)
            self.emit(ind + 1, f"if {count} == 0:")
            self.emit(ind + 2, "break")
            self.emit(ind + 1, f"if {count} < 0:")
            self.emit(ind + 2, f"{count} = -{count}")
            self.read_varint(ind + 2, "n")  # block size in bytes: not needed
            self.emit(ind + 1, f"if {count} > L - i:")
            self.emit(ind + 2, "raise _Bad('array length {} out of range'.format(" + count + "))")
            self.emit(ind + 1, f"for _ in range({count}):")
            self.read(items, item, ind + 2)
            self.emit(ind + 2, f"{acc}.append({item})")
            self.emit(ind, f"{dst} = tuple({acc})")
        elif isinstance(schema, dict) and schema["type"] == "record":
            cls = self.record_class(schema)
            values = self.read_fields(schema, ind)
            self.construct(cls, values, dst, ind)
        else:
            raise SchemaError(f"{self.name}: unsupported Avro schema {schema!r}")

    def read_fields(self, schema: Schema, ind: int, skip: str | None = None) -> dict[str, str]:
        values: dict[str, str] = {}
        for f in schema["fields"]:
            if f["name"] == skip:
                continue
            self.path.append(f["name"])
            values[f["name"]] = var = self.tmp()
            self.read(f["type"], var, ind)
            self.path.pop()
        return values

    def construct(self, cls: type[Any], values: Mapping[str, str], dst: str, ind: int) -> None:
        names = [f.name for f in dataclasses.fields(cls)]
        if set(names) != set(values):
            raise SchemaError(
                f"{self.name}: fields of {cls.__qualname__} {sorted(names)} != "
                f"Avro fields {sorted(values)}"
            )
        twin = _twin(cls)
        if twin is None:
            args = ", ".join(values[n] for n in names)
            self.emit(ind, f"{dst} = {self.maker(cls)}({args})")
            return
        # fast_constructor's trick, inlined: fill a plain twin, then switch its class
        tw, cname = self.const(twin, "tw"), self.const(cls, "cls")
        self.emit(ind, f"{dst} = _new({tw})")
        for n in names:
            self.emit(ind, f"{dst}.{n} = {values[n]}")
        self.emit(ind, f"{dst}.__class__ = {cname}")

    def begin_decoder(self, name: str) -> None:
        self.emit(0, "def decode(b):")
        self.emit(1, "if b.__class__ is not bytes:")
        self.emit(2, f"b = _input_bytes(b, {name!r})")
        self.emit(1, "L = len(b)")
        self.emit(1, "i = 0")
        self.emit(1, "try:")

    def end_decoder(self, name: str) -> None:
        self.emit(1, "except _DEC_ERRS as exc:")
        self.emit(2, f"raise _decode_failure({name!r}, exc, i, L, _WHERE) from exc")
        self.emit(1, "if i != L:")
        self.emit(2, f"raise _trailing({name!r}, i, L)")
        self.emit(1, "return r")
