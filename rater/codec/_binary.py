"""Specialised Avro binary encoders/decoders, generated from the parsed schemas.

Why not call fastavro on the hot path: `fastavro.schemaless_reader` costs ~7 µs for a
UsageRecord before the dict is turned into a dataclass, and a frozen dataclass's own
`__init__` costs another ~3 µs (one `object.__setattr__` per field). The functions
generated here read/write the Avro binary encoding (Avro 1.11 spec, "Binary Encoding")
straight from/to the dataclasses, which is roughly twice as fast in total. fastavro stays
the reference: it parses and validates every schema, resolves other writer versions
(`rater.codec.avro.AvroType.resolving_decoder`) and the tests check both implementations
against each other byte for byte.

Supported schema constructs (anything else raises SchemaError at load time, so a schema
change that needs more fails loudly): records bound to dataclasses, enums bound to
StrEnums, int, long (logical types are ignored: timestamps stay int ms), string, bytes,
arrays (-> tuples), ["null", T] unions, and an "envelope": a top-level record whose
union-of-records field is flattened into one dataclass per branch (Command).

Robustness of the decoders: every read is bounds-checked (a length or count can never
exceed the bytes left, so nothing allocates or loops beyond the input size), varints are
limited to 10 bytes (5 for int), enum and union indexes are range-checked, strings must be
valid UTF-8. Any failure raises `DecodeError` naming the type, field and byte offset.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any

from rater.codec.errors import DecodeError, EncodeError, ErrorClass, SchemaError
from rater.frozen import fast_constructor

Schema = Any  # a fastavro-parsed schema node (str, dict or list)
BytesLike = bytes | bytearray | memoryview  # what the decoders accept

_B = tuple(bytes((k,)) for k in range(256))  # _B[k] == bytes([k])

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


def _read_int(b: bytes, i: int, c: int) -> tuple[int, int]:
    return _read_varint(b, i, c, 32)


def _write_long(v: object) -> bytes:
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
    # unrolled up to 6 bytes (epoch milliseconds), then a loop
    if n < 0x80:
        return _B[n]
    if n < 0x4000:
        return bytes((n & 0x7F | 0x80, n >> 7))
    if n < 0x200000:
        return bytes((n & 0x7F | 0x80, n >> 7 & 0x7F | 0x80, n >> 14))
    if n < 0x10000000:
        return bytes((n & 0x7F | 0x80, n >> 7 & 0x7F | 0x80, n >> 14 & 0x7F | 0x80, n >> 21))
    if n < 0x800000000:
        return bytes(
            (
                n & 0x7F | 0x80,
                n >> 7 & 0x7F | 0x80,
                n >> 14 & 0x7F | 0x80,
                n >> 21 & 0x7F | 0x80,
                n >> 28,
            )
        )
    if n < 0x40000000000:
        return bytes(
            (
                n & 0x7F | 0x80,
                n >> 7 & 0x7F | 0x80,
                n >> 14 & 0x7F | 0x80,
                n >> 21 & 0x7F | 0x80,
                n >> 28 & 0x7F | 0x80,
                n >> 35,
            )
        )
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _write_int(v: object) -> bytes:
    """Zig-zag varint of an Avro int (range-checked)."""
    if isinstance(v, int) and not _INT_MIN <= v <= _INT_MAX:
        raise _Bad(f"{v} out of range for an Avro int")
    return _write_long(v)


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


_RUNTIME: dict[str, object] = {
    "_B": _B,
    "_Bad": _Bad,
    "_rl": _read_long,
    "_ri": _read_int,
    "_wl": _write_long,
    "_wi": _write_int,
    "_as_bytes": _as_bytes,
    "_input_bytes": _input_bytes,
    "_decode_failure": _decode_failure,
    "_encode_failure": _encode_failure,
    "_trailing": _trailing,
    "_DEC_ERRS": (IndexError, ValueError, TypeError),
    "_ENC_ERRS": (AttributeError, KeyError, IndexError, TypeError, ValueError),
}


# --- code generation ------------------------------------------------------------------


@dataclasses.dataclass
class Binding:
    """How Avro named types map to Python: records to dataclasses, enums to StrEnums."""

    records: Mapping[str, type[Any]]  # Avro full name -> dataclass
    enums: Mapping[str, type[Enum]]  # Avro full name -> StrEnum


class _Gen:
    def __init__(self, name: str, named: Mapping[str, Schema], binding: Binding) -> None:
        self.name = name
        self.named = named
        self.binding = binding
        self.lines: list[str] = []
        self.where: dict[int, str] = {}
        self.path: list[str] = []
        self.ns: dict[str, Any] = dict(_RUNTIME)
        self.counter = 0
        self.makers: dict[type[Any], str] = {}

    # bookkeeping

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)
        self.where[len(self.lines)] = ".".join(self.path)

    def tmp(self, prefix: str = "v") -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def const(self, value: object, prefix: str) -> str:
        name = f"_{prefix}{self.counter}"
        self.counter += 1
        self.ns[name] = value
        return name

    def resolve(self, schema: Schema) -> Schema:
        if isinstance(schema, str) and schema in self.named:
            return self.named[schema]
        return schema

    def prim(self, schema: Schema) -> str | None:
        """The primitive type name of `schema` (logical types ignored), None if complex."""
        if isinstance(schema, str):
            return schema
        if isinstance(schema, dict) and schema.get("type") in (
            "null",
            "boolean",
            "int",
            "long",
            "float",
            "double",
            "string",
            "bytes",
        ):
            return str(schema["type"])
        return None

    def nullable(self, schema: Schema) -> Schema | None:
        """T if `schema` is the union ["null", T] (either order), else None."""
        if isinstance(schema, list) and len(schema) == 2 and "null" in schema:
            other = schema[1] if schema[0] == "null" else schema[0]
            if other != "null":
                return other
        return None

    def record_class(self, schema: Schema) -> type[Any]:
        cls = self.binding.records.get(schema["name"])
        if cls is None:
            raise SchemaError(f"{self.name}: no Python class bound to record {schema['name']}")
        return cls

    def maker(self, cls: type[Any]) -> str:
        if cls not in self.makers:
            self.makers[cls] = self.const(fast_constructor(cls), "mk")
        return self.makers[cls]

    def enum_members(self, schema: Schema) -> list[Enum]:
        enum = self.binding.enums.get(schema["name"])
        if enum is None:
            raise SchemaError(f"{self.name}: no Python enum bound to {schema['name']}")
        values = {str(m.value): m for m in enum}
        symbols = list(schema["symbols"])
        if set(symbols) != set(values):
            raise SchemaError(
                f"{self.name}: Avro enum {schema['name']} symbols {symbols} != "
                f"Python {enum.__qualname__} values {list(values)}"
            )
        return [values[s] for s in symbols]

    def min_size(self, schema: Schema) -> int:
        schema = self.resolve(schema)
        if schema == "null" or self.prim(schema) == "null":
            return 0
        if isinstance(schema, dict) and schema.get("type") == "record":
            return sum(self.min_size(f["type"]) for f in schema["fields"])
        return 1

    # decoding: emits code that reads one value of `schema` into variable `dst`

    def read_varint(self, ind: int, dst: str, bits: int = 64) -> None:
        helper = "_rl" if bits == 64 else "_ri"
        self.emit(ind, "c = b[i]; i += 1")
        self.emit(ind, "if c < 128:")
        self.emit(ind + 1, f"{dst} = (c >> 1) ^ -(c & 1)")
        self.emit(ind, "else:")
        self.emit(ind + 1, f"{dst}, i = {helper}(b, i, c)")

    def read(self, schema: Schema, dst: str, ind: int) -> None:
        schema = self.resolve(schema)
        prim = self.prim(schema)
        if prim in ("int", "long"):
            self.read_varint(ind, dst, 32 if prim == "int" else 64)
        elif prim in ("string", "bytes"):
            self.read_varint(ind, "n")
            self.emit(ind, "j = i + n")
            self.emit(ind, "if n < 0 or j > L:")
            self.emit(ind + 1, f"raise _Bad('{prim} length {{}} out of range'.format(n))")
            if prim == "string":
                self.emit(ind, f"{dst} = b[i:j].decode(); i = j")
            else:
                self.emit(ind, f"{dst} = b[i:j]; i = j")
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
            self.read_varint(ind, "n")
            self.emit(ind, f"if n < 0 or n >= {len(members)}:")
            self.emit(ind + 1, "raise _Bad('enum index {} out of range'.format(n))")
            self.emit(ind, f"{dst} = {syms}[n]")
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
        args = ", ".join(values[n] for n in names)
        self.emit(ind, f"{dst} = {self.maker(cls)}({args})")

    # encoding: emits code that appends the encoding of variable `src` with `a(...)`

    def write_varint(self, ind: int, src: str, bits: int = 64) -> None:
        helper = "_wl" if bits == 64 else "_wi"
        self.emit(ind, f"if 0 <= {src} < 64:")
        self.emit(ind + 1, f"a(_B[{src} + {src}])")
        self.emit(ind, "else:")
        self.emit(ind + 1, f"a({helper}({src}))")

    def write(self, schema: Schema, src: str, ind: int) -> None:
        schema = self.resolve(schema)
        prim = self.prim(schema)
        if prim in ("int", "long"):
            self.write_varint(ind, src, 32 if prim == "int" else 64)
        elif prim == "string":
            enc = self.tmp("e")
            self.emit(ind, f"{enc} = {src}.encode()")
            self.emit(ind, f"n = len({enc})")
            self.write_varint(ind, "n")
            self.emit(ind, f"a({enc})")
        elif prim == "bytes":
            self.emit(ind, f"if {src}.__class__ is not bytes:")
            self.emit(ind + 1, f"{src} = _as_bytes({src})")
            self.emit(ind, f"n = len({src})")
            self.write_varint(ind, "n")
            self.emit(ind, f"a({src})")
        elif prim is not None:
            raise SchemaError(f"{self.name}: Avro type {prim!r} is not supported by the codec")
        elif (inner := self.nullable(schema)) is not None:
            first_null = schema[0] == "null"
            self.emit(ind, f"if {src} is None:")
            self.emit(ind + 1, "a(b'\\x00')" if first_null else "a(b'\\x02')")
            self.emit(ind, "else:")
            self.emit(ind + 1, "a(b'\\x02')" if first_null else "a(b'\\x00')")
            self.write(inner, src, ind + 1)
        elif isinstance(schema, dict) and schema["type"] == "enum":
            members = self.enum_members(schema)
            index = {}
            for k, m in enumerate(members):
                index[m] = index[m.value] = _write_long(k)
            table = self.const(index, "ix")
            self.emit(ind, f"a({table}[{src}])")
        elif isinstance(schema, dict) and schema["type"] == "array":
            item = self.tmp("it")
            self.emit(ind, f"if {src}.__class__ is not tuple and {src}.__class__ is not list:")
            self.emit(ind + 1, "raise _Bad('expected a tuple, got {}'.format(type(" + src + ")))")
            self.emit(ind, f"n = len({src})")
            self.emit(ind, "if n:")
            self.write_varint(ind + 1, "n")
            self.emit(ind + 1, f"for {item} in {src}:")
            self.write(schema["items"], item, ind + 2)
            self.emit(ind, "a(b'\\x00')")
        elif isinstance(schema, dict) and schema["type"] == "record":
            cls = self.record_class(schema)
            cname = self.const(cls, "cls")
            self.emit(ind, f"if {src}.__class__ is not {cname}:")
            msg = f"'expected {cls.__name__}, got {{}}'.format(type({src}))"
            self.emit(ind + 1, f"raise _Bad({msg})")
            self.write_fields(schema, src, ind)
        else:
            raise SchemaError(f"{self.name}: unsupported Avro schema {schema!r}")

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

    def compile(self, fname: str) -> Callable[..., Any]:
        src = "\n".join(self.lines) + "\n"
        self.ns["_WHERE"] = self.where
        code = compile(src, f"<rater-codec {self.name}>", "exec")
        exec(code, self.ns)
        fn: Callable[..., Any] = self.ns[fname]
        fn.__rater_source__ = src  # type: ignore[attr-defined]  # for debugging
        return fn

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

    def begin_encoder(self, fname: str, cls: type[Any]) -> None:
        cname = self.const(cls, "cls")
        self.emit(0, f"def {fname}(o):")
        self.emit(1, "try:")
        self.emit(2, f"if o.__class__ is not {cname}:")
        self.emit(3, f"raise _Bad('expected {cls.__name__}, got {{}}'.format(type(o)))")
        self.emit(2, "p = []")
        self.emit(2, "a = p.append")

    def end_encoder(self, name: str) -> None:
        self.emit(2, "return b''.join(p)")
        self.emit(1, "except _ENC_ERRS as exc:")
        self.emit(2, f"raise _encode_failure({name!r}, exc, _WHERE) from exc")


def _check_record(schema: Schema) -> None:
    if not (isinstance(schema, dict) and schema.get("type") == "record"):
        raise SchemaError(f"top-level schema must be a record, got {schema!r}")


def _named(parsed: Schema) -> Mapping[str, Schema]:
    named = parsed.get("__named_schemas", {}) if isinstance(parsed, dict) else {}
    return dict(named)


def build_record_codec(
    parsed: Schema, binding: Binding
) -> tuple[Callable[[BytesLike], Any], Callable[[Any], bytes]]:
    """(decode, encode) for a top-level record bound to one dataclass."""
    _check_record(parsed)
    name = parsed["name"].rsplit(".", 1)[-1]
    cls = binding.records.get(parsed["name"])
    if cls is None:
        raise SchemaError(f"no Python class bound to record {parsed['name']}")

    dec = _Gen(name, _named(parsed), binding)
    dec.begin_decoder(name)
    values = dec.read_fields(parsed, 2)
    dec.construct(cls, values, "r", 2)
    dec.end_decoder(name)

    enc = _Gen(name, _named(parsed), binding)
    enc.begin_encoder("encode", cls)
    enc.write_fields(parsed, "o", 2)
    enc.end_encoder(name)
    return dec.compile("decode"), enc.compile("encode")


def _default_bytes(field: Mapping[str, Any], owner: str) -> bytes:
    """The binary encoding of a field's default value (for the types envelopes need)."""
    if "default" not in field:
        raise SchemaError(f"{owner}: field {field['name']!r} is left out but has no default")
    t, default = field["type"], field["default"]
    prim = t["type"] if isinstance(t, dict) else t
    if prim == "string" and isinstance(default, str):
        data = default.encode()
        return _write_long(len(data)) + data
    if prim in ("int", "long") and isinstance(default, int):
        return _write_long(default)
    if isinstance(t, list) and t and t[0] == "null" and default is None:
        return b"\x00"
    raise SchemaError(f"{owner}: unsupported default for field {field['name']!r}")


def build_envelope_codec(
    parsed: Schema, body_field: str, binding: Binding
) -> tuple[Callable[[BytesLike], Any], dict[type[Any], Callable[[Any], bytes]]]:
    """(decode, {class: encode}) for an envelope record: common fields plus a union of
    records in `body_field`; branch record R maps to a dataclass with the common fields
    and R's fields (e.g. Command{command_id, msisdn, time, body: OrderProduct{product}}
    <-> OrderProduct(command_id, msisdn, time, product)). A branch's dataclass may leave
    out common fields that have a default: they are written as the default and ignored
    on read (Tick has only `time`)."""
    _check_record(parsed)
    name = parsed["name"].rsplit(".", 1)[-1]
    named = _named(parsed)
    fields = {f["name"]: f for f in parsed["fields"]}
    if body_field not in fields or not isinstance(fields[body_field]["type"], list):
        raise SchemaError(f"{name}: envelope field {body_field!r} must be a union")
    branches = [named.get(s, s) if isinstance(s, str) else s for s in fields[body_field]["type"]]
    for br in branches:
        if not (isinstance(br, dict) and br.get("type") == "record"):
            raise SchemaError(f"{name}: every branch of {body_field!r} must be a record")

    def left_out(cls: type[Any]) -> set[str]:
        own = {f.name for f in dataclasses.fields(cls)}
        return {f for f in fields if f != body_field and f not in own}

    dec = _Gen(name, named, binding)
    dec.begin_decoder(name)
    common = dec.read_fields(parsed, 2, skip=body_field)
    dec.path.append(body_field)
    dec.read_varint(2, "n")
    for k, br in enumerate(branches):
        cls = dec.record_class(br)
        dec.emit(2, f"{'if' if k == 0 else 'elif'} n == {k}:")
        dec.path.append(br["name"].rsplit(".", 1)[-1])
        own = dec.read_fields(br, 3)
        dec.path.pop()
        clash = set(own) & set(common)
        if clash:
            raise SchemaError(f"{name}: {br['name']} repeats common fields {sorted(clash)}")
        skipped = left_out(cls)
        for f in skipped:
            _default_bytes(fields[f], f"{name}/{cls.__name__}")  # must have a default
        kept = {k2: v for k2, v in common.items() if k2 not in skipped}
        dec.construct(cls, {**kept, **own}, "r", 3)
    dec.emit(2, "else:")
    dec.emit(3, "raise _Bad('union index {} out of range'.format(n))")
    dec.path.pop()
    dec.end_decoder(name)

    encoders: dict[type[Any], Callable[[Any], bytes]] = {}
    for k, br in enumerate(branches):
        cls = binding.records[br["name"]]
        short = br["name"].rsplit(".", 1)[-1]
        skipped = left_out(cls)
        enc = _Gen(short, named, binding)
        enc.begin_encoder("encode", cls)
        for f in parsed["fields"]:
            if f["name"] == body_field:
                enc.emit(2, f"a({_write_long(k)!r})")
                enc.path.append(body_field)
                enc.write_fields(br, "o", 2)
                enc.path.pop()
            elif f["name"] in skipped:
                enc.emit(2, f"a({_default_bytes(f, short)!r})")
            else:
                enc.path.append(f["name"])
                var = enc.tmp()
                enc.emit(2, f"{var} = o.{f['name']}")
                enc.write(f["type"], var, 2)
                enc.path.pop()
        enc.end_encoder(short)
        encoders[cls] = enc.compile("encode")
    return dec.compile("decode"), encoders
