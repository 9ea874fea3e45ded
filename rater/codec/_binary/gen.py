"""What the generators of decoders and encoders share: the binding of Avro names to
Python classes, the schema queries, emitting lines and constants, compiling."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any

from rater.codec._binary.runtime import RUNTIME
from rater.codec.errors import SchemaError
from rater.frozen import fast_constructor

Schema = Any  # a fastavro-parsed schema node (str, dict or list)


@dataclasses.dataclass
class Binding:
    """How Avro named types map to Python: records to dataclasses, enums to StrEnums."""

    records: Mapping[str, type[Any]]  # Avro full name -> dataclass
    enums: Mapping[str, type[Enum]]  # Avro full name -> StrEnum
    # string fields whose values rarely repeat (ids): encoded each time, not cached
    uncached: frozenset[str] = frozenset()


class Gen:
    """One generated function's source and namespace, built line by line (`DecoderGen`,
    `EncoderGen`)."""

    def __init__(self, name: str, named: Mapping[str, Schema], binding: Binding) -> None:
        self.name = name
        self.named = named
        self.binding = binding
        self.lines: list[str] = []
        self.where: dict[int, str] = {}
        self.path: list[str] = []
        self.ns: dict[str, Any] = dict(RUNTIME)
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

    def compile(self, fname: str) -> Callable[..., Any]:
        src = "\n".join(self.lines) + "\n"
        self.ns["_WHERE"] = self.where
        code = compile(src, f"<rater-codec {self.name}>", "exec")
        exec(code, self.ns)
        fn: Callable[..., Any] = self.ns[fname]
        fn.__rater_source__ = src  # type: ignore[attr-defined]  # for debugging
        return fn
