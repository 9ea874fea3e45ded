"""The encoder generator: emits the code that writes one value of a schema as Avro
binary, as parts joined once at the end."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rater.codec._binary.gen import Binding, Gen, Schema
from rater.codec._binary.runtime import ZZ_LIMIT, write_long
from rater.codec.errors import SchemaError


class EncoderGen(Gen):
    """Emits an encoder: `begin_encoder`, the writes, `end_encoder`, then `compile`."""

    def __init__(self, name: str, named: Mapping[str, Schema], binding: Binding) -> None:
        super().__init__(name, named, binding)
        self.pending: list[str] = []  # parts not yet added to `p`
        self.started = False  # whether `p` exists

    # encoding: emits code that computes the encoding of variable `src` as bytes parts
    # (`part`), joined once at the end. Straight-line parts are kept in local variables
    # and gathered into one tuple; before a branch or loop they are flushed into the list
    # `p`, and the branch adds its own parts to `p`.

    def part(self, expr: str) -> None:
        self.pending.append(expr)

    def flush(self, ind: int) -> None:
        """Emits code adding the pending parts to `p` (creating it the first time)."""
        parts, self.pending = self.pending, []
        if not self.started:
            self.emit(ind, f"p = [{', '.join(parts)}]")
            self.started = True
        elif len(parts) == 1:
            self.emit(ind, f"p.append({parts[0]})")
        elif parts:
            self.emit(ind, f"p += ({', '.join(parts)})")

    def branch(self, ind: int) -> None:
        """Call before emitting a branch or loop that produces parts."""
        self.flush(ind)

    def small_long(self, schema: Schema, src: str) -> str:
        """An expression for the zig-zag varint of the int `src`, from the tables without
        a call for -2**13 <= src < 2**27 (up to 4 bytes) and, for timestamps, for
        2**27 <= src < 2**41 (5 or 6 bytes: epoch milliseconds), tested first."""
        lim = ZZ_LIMIT
        small = f"_ZZ[{src}] if -{lim} <= {src} < {lim} else "
        low = f"_C14[{src} + {src} & 16383] + "
        if self.prim(schema) == "int":
            return f"{small}{low}_VAR[{src} >> 13] if 0 < {src} < {1 << 27} else _wi({src})"
        logical = schema.get("logicalType", "") if isinstance(schema, dict) else ""
        if "time" in str(logical):
            big = f"{low}_C14[{src} >> 13 & 16383] + _VAR[{src} >> 27]"
            return f"{big} if {1 << 27} <= {src} < {1 << 41} else ({small}_wl({src}))"
        return f"{small}{low}_VAR[{src} >> 13] if 0 < {src} < {1 << 27} else _wl({src})"

    def length(self, src: str) -> str:
        """An expression for the varint of a length `src` (>= 0)."""
        return f"_ZZ[{src}] if {src} < {ZZ_LIMIT} else _wl({src})"

    def cached(self) -> bool:
        """Whether string values of the current field go through a cache (see Binding)."""
        return not self.path or self.path[-1] not in self.binding.uncached

    def enum_table(self, schema: Schema, tag: bytes = b"") -> str:
        members = self.enum_members(schema)
        index = {}
        for k, m in enumerate(members):
            index[m] = index[m.value] = tag + write_long(k)
        return self.const(index, "ix")

    def write(self, schema: Schema, src: str, ind: int) -> None:
        schema = self.resolve(schema)
        prim = self.prim(schema)
        if prim in ("int", "long"):
            x = self.tmp("x")
            self.emit(ind, f"{x} = {self.small_long(schema, src)}")
            self.part(x)
        elif prim == "string" and self.cached():
            x, cache = self.tmp("x"), self.const({}, "c")
            self.emit(ind, f"{x} = {cache}.get({src}) or _sc({cache}, {src}, b'')")
            self.part(x)
        elif prim == "string":
            x, ln = self.tmp("x"), self.tmp("n")
            self.emit(ind, f"{x} = {src}.encode(); n = len({x})")
            self.emit(ind, f"{ln} = {self.length('n')}")
            self.part(ln)
            self.part(x)
        elif prim == "bytes":
            ln = self.tmp("n")
            self.emit(ind, f"if {src}.__class__ is not bytes:")
            self.emit(ind + 1, f"{src} = _as_bytes({src})")
            self.emit(ind, f"n = len({src})")
            self.emit(ind, f"{ln} = {self.length('n')}")
            self.part(ln)
            self.part(src)
        elif prim == "boolean":
            x = self.tmp("x")
            self.emit(ind, f"{x} = b'\\x01' if {src} is True else b'\\x00'")
            self.emit(ind, f"if {src} is not True and {src} is not False:")
            self.emit(ind + 1, f"raise _Bad('expected a bool, got {{}}'.format(type({src})))")
            self.part(x)
        elif prim is not None:
            raise SchemaError(f"{self.name}: Avro type {prim!r} is not supported by the codec")
        elif (inner := self.nullable(schema)) is not None:
            self.write_nullable(schema, inner, src, ind)
        elif isinstance(schema, dict) and schema["type"] == "enum":
            x = self.tmp("x")
            self.emit(ind, f"{x} = {self.enum_table(schema)}[{src}]")
            self.part(x)
        elif isinstance(schema, dict) and schema["type"] == "array":
            item = self.tmp("it")
            self.emit(ind, f"if {src}.__class__ is not tuple and {src}.__class__ is not list:")
            self.emit(ind + 1, "raise _Bad('expected a tuple, got {}'.format(type(" + src + ")))")
            self.branch(ind)
            self.emit(ind, f"n = len({src})")
            self.emit(ind, "if n:")
            self.emit(ind + 1, f"p.append({self.length('n')})")
            self.emit(ind + 1, f"for {item} in {src}:")
            self.write(schema["items"], item, ind + 2)
            self.flush(ind + 2)
            self.part("b'\\x00'")
        elif isinstance(schema, dict) and schema["type"] == "record":
            cls = self.record_class(schema)
            cname = self.const(cls, "cls")
            self.emit(ind, f"if {src}.__class__ is not {cname}:")
            msg = f"'expected {cls.__name__}, got {{}}'.format(type({src}))"
            self.emit(ind + 1, f"raise _Bad({msg})")
            self.write_fields(schema, src, ind)
        else:
            raise SchemaError(f"{self.name}: unsupported Avro schema {schema!r}")

    def write_nullable(self, schema: Schema, inner: Schema, src: str, ind: int) -> None:
        first_null = schema[0] == "null"
        none, some = (b"\x00", b"\x02") if first_null else (b"\x02", b"\x00")
        resolved = self.resolve(inner)
        prim = self.prim(resolved)
        x = self.tmp("x")
        if prim == "string" and self.cached():
            cache = self.const({}, "c")
            value = f"{cache}.get({src}) or _sc({cache}, {src}, {some!r})"
        elif prim in ("int", "long"):
            value = f"{some!r} + ({self.small_long(resolved, src)})"
        elif isinstance(resolved, dict) and resolved.get("type") == "enum":
            value = f"{self.enum_table(resolved, some)}[{src}]"
        else:  # anything else: a branch
            self.branch(ind)
            self.emit(ind, f"if {src} is None:")
            self.emit(ind + 1, f"p.append({none!r})")
            self.emit(ind, "else:")
            self.emit(ind + 1, f"p.append({some!r})")
            self.write(inner, src, ind + 1)
            self.flush(ind + 1)
            return
        self.emit(ind, f"{x} = {none!r} if {src} is None else {value}")
        self.part(x)

    def write_fields(self, schema: Schema, src: str, ind: int, skip: str | None = None) -> None:
        for f in schema["fields"]:
            if f["name"] == skip:
                continue
            self.path.append(f["name"])
            var = self.tmp()
            self.emit(ind, f"{var} = {src}.{f['name']}")
            self.write(f["type"], var, ind)
            self.path.pop()

    # whole functions

    def begin_encoder(self, fname: str, cls: type[Any]) -> None:
        cname = self.const(cls, "cls")
        self.emit(0, f"def {fname}(o):")
        self.emit(1, "try:")
        self.emit(2, f"if o.__class__ is not {cname}:")
        self.emit(3, f"raise _Bad('expected {cls.__name__}, got {{}}'.format(type(o)))")
        self.pending = []
        self.started = False

    def end_encoder(self, name: str) -> None:
        if self.started:
            self.flush(2)
            self.emit(2, "return b''.join(p)")
        else:
            self.emit(2, f"return b''.join(({''.join(x + ', ' for x in self.pending)}))")
        self.emit(1, "except _ENC_ERRS as exc:")
        self.emit(2, f"raise _encode_failure({name!r}, exc, _WHERE) from exc")
