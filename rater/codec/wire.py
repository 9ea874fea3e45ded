"""Confluent Schema Registry wire format and a minimal registry client.

Wire format of a Kafka message value (or key):

    byte 0      magic byte, always 0
    bytes 1-4   schema id, big-endian (the id the registry gave the writer schema)
    bytes 5-    Avro binary body (rater.codec.avro)

`SchemaRegistryClient` speaks just enough of the Confluent REST API (register a schema
under a subject, fetch a schema by id) using urllib; it is only needed when a registry
URL is configured. `FramedCodec` puts both together for one schema.
"""

from __future__ import annotations

import base64
import json
import struct
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, Final, Generic, TypeVar

from rater.codec._binary import BytesLike
from rater.codec.avro import AvroType
from rater.codec.errors import DecodeError, ErrorClass

T = TypeVar("T")

MAGIC: Final = 0
HEADER_SIZE: Final = 5
MAX_SCHEMA_ID: Final = 0x7FFFFFFF  # a Java int on the registry side
# schema ids remembered as unusable (unknown to the registry, or not resolvable) per
# codec, so that the registry is not asked again for each message; past this, the
# oldest is forgotten: input with ever new ids cannot grow the memory without end
MAX_FAILED_IDS: Final = 1024
_HEADER = struct.Struct(">BI")
_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


def frame(schema_id: int, body: bytes) -> bytes:
    """Magic byte + 4-byte big-endian schema id + body."""
    if not 0 <= schema_id <= MAX_SCHEMA_ID:
        raise ValueError(f"schema id {schema_id} out of range")
    return _HEADER.pack(MAGIC, schema_id) + body


def unframe(data: BytesLike) -> tuple[int, bytes]:
    """(schema id, body) of a wire-format message; DecodeError(DECODE_ERROR) if it is not
    one (too short, or a magic byte other than 0)."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise DecodeError(ErrorClass.DECODE_ERROR, f"expected bytes, got {type(data).__name__}")
    if len(data) < HEADER_SIZE:
        raise DecodeError(
            ErrorClass.DECODE_ERROR,
            f"{len(data)} byte(s): too short for the 5-byte wire-format header",
        )
    magic, schema_id = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise DecodeError(
            ErrorClass.DECODE_ERROR,
            f"bad magic byte 0x{magic:02x} (expected 0x00: not Confluent wire format)",
        )
    return schema_id, bytes(data[HEADER_SIZE:])


def subject_name(topic: str, *, key: bool = False) -> str:
    """Subject of a topic's value (or key) schema under the default TopicNameStrategy."""
    return f"{topic}-{'key' if key else 'value'}"


class RegistryError(Exception):
    """The schema registry refused a request or could not be reached.

    `status` is the HTTP status (None when unreachable), `error_code` the registry's
    own code when it sent one (e.g. 40403 schema not found, 409 incompatible)."""

    def __init__(self, message: str, status: int | None = None, error_code: int | None = None):
        super().__init__(message)
        self.status = status
        self.error_code = error_code


class SchemaRegistryClient:
    """Minimal Confluent Schema Registry client (urllib only), with caches: registering
    the same schema under the same subject, or fetching the same id, asks once."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        basic_auth: tuple[str, str] | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._headers = {"Accept": f"{_CONTENT_TYPE}, application/json"}
        if basic_auth is not None:
            token = base64.b64encode(f"{basic_auth[0]}:{basic_auth[1]}".encode()).decode()
            self._headers["Authorization"] = f"Basic {token}"
        self._ids: dict[tuple[str, str], int] = {}
        self._schemas: dict[int, str] = {}

    def register(self, subject: str, schema: str | Mapping[str, Any]) -> int:
        """Registers `schema` (Avro JSON text or dict) under `subject`, returns its id
        (the registry returns the existing id if it is already registered)."""
        text = schema if isinstance(schema, str) else json.dumps(schema, separators=(",", ":"))
        cached = self._ids.get((subject, text))
        if cached is not None:
            return cached
        reply = self._request(
            "POST",
            f"/subjects/{urllib.parse.quote(subject, safe='')}/versions",
            {"schema": text},
        )
        schema_id = reply.get("id")
        if not isinstance(schema_id, int):
            raise RegistryError(f"registry reply without an id: {reply!r}")
        self._ids[(subject, text)] = schema_id
        self._schemas.setdefault(schema_id, text)
        return schema_id

    def get_schema(self, schema_id: int) -> str:
        """The schema text with this id."""
        cached = self._schemas.get(schema_id)
        if cached is not None:
            return cached
        reply = self._request("GET", f"/schemas/ids/{int(schema_id)}")
        text = reply.get("schema")
        if not isinstance(text, str):
            raise RegistryError(f"registry reply without a schema: {reply!r}")
        schema_type = reply.get("schemaType", "AVRO")
        if schema_type != "AVRO":
            raise RegistryError(f"schema {schema_id} is {schema_type}, not AVRO")
        self._schemas[schema_id] = text
        return text

    def _request(self, method: str, path: str, body: object = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        headers = dict(self._headers)
        if data is not None:
            headers["Content-Type"] = _CONTENT_TYPE
        req = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            status, code, message = exc.code, None, exc.reason
            try:
                err = json.loads(exc.read())
                code, message = err.get("error_code"), err.get("message", message)
            except Exception:  # a non-JSON error page
                pass
            raise RegistryError(
                f"{method} {path}: HTTP {status}: {message}", status=status, error_code=code
            ) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise RegistryError(f"{method} {self.url}{path}: {exc}") from exc
        try:
            reply = json.loads(raw)
        except ValueError as exc:
            raise RegistryError(f"{method} {path}: reply is not JSON") from exc
        if not isinstance(reply, dict):
            raise RegistryError(f"{method} {path}: unexpected reply {reply!r}")
        return reply


class FramedCodec(Generic[T]):
    """Encodes/decodes wire-format messages of one schema.

    `encode` frames with `schema_id`. `decode` accepts that id on the fast path; any
    other id is looked up in the registry (if there is one) and decoded with Avro schema
    resolution into the current dataclass (cached per id). An id the registry does not
    know, or a schema that cannot be resolved, is DecodeError(SCHEMA_MISMATCH); an
    unreachable registry raises RegistryError (transient: do not dead-letter on it).
    The ids that failed are remembered, at most MAX_FAILED_IDS of them (the oldest
    forgotten first).
    """

    def __init__(
        self,
        avro_type: AvroType[T],
        schema_id: int,
        registry: SchemaRegistryClient | None = None,
    ) -> None:
        self.avro_type = avro_type
        self.schema_id = schema_id
        self.registry = registry
        self._header = _HEADER.pack(MAGIC, schema_id)
        self._encode = avro_type.encode
        self._decode = avro_type.decode
        self._decoders: dict[int, Callable[[BytesLike], T]] = {schema_id: avro_type.decode}
        self._failed: dict[int, Callable[[BytesLike], T]] = {}  # in the order they failed

    @classmethod
    def registered(
        cls, avro_type: AvroType[T], registry: SchemaRegistryClient, subject: str
    ) -> FramedCodec[T]:
        """Registers the schema under `subject` (e.g. subject_name(topic)) and uses the
        id the registry gives it."""
        return cls(avro_type, registry.register(subject, avro_type.schema_text), registry)

    def encode(self, value: T) -> bytes:
        return self._header + self._encode(value)

    def decode(self, data: BytesLike) -> T:
        try:
            own = data[:HEADER_SIZE] == self._header  # fast path: our own schema id
        except TypeError:  # not bytes at all: unframe says so
            own = False
        if own:
            return self._decode(data[HEADER_SIZE:])
        schema_id, body = unframe(data)
        if schema_id == self.schema_id:
            return self._decode(body)
        dec = self._decoders.get(schema_id) or self._failed.get(schema_id)
        if dec is None:
            dec = self._decoder_for(schema_id)
        return dec(body)

    def _decoder_for(self, schema_id: int) -> Callable[[BytesLike], T]:
        """The decoder of bodies written with `schema_id`, remembered: a resolving one,
        or one that raises why the id cannot be read (a RegistryError other than 404 is
        raised and nothing is remembered: the registry is asked again next time)."""
        name = self.avro_type.name
        if self.registry is None:
            return self._fail(
                schema_id,
                DecodeError(
                    ErrorClass.SCHEMA_MISMATCH,
                    f"{name}: schema id {schema_id} is not {self.schema_id} and no registry "
                    "is configured",
                ),
            )
        try:
            text = self.registry.get_schema(schema_id)
        except RegistryError as exc:
            if exc.status != 404:
                raise
            return self._fail(
                schema_id,
                DecodeError(
                    ErrorClass.SCHEMA_MISMATCH, f"{name}: schema id {schema_id} unknown: {exc}"
                ),
            )
        try:
            dec = self.avro_type.resolving_decoder(text)
        except DecodeError as exc:
            return self._fail(schema_id, exc)
        self._decoders[schema_id] = dec
        return dec

    def _fail(self, schema_id: int, error: DecodeError) -> Callable[[BytesLike], T]:
        failed = self._failed
        if len(failed) >= MAX_FAILED_IDS:
            del failed[next(iter(failed))]
        dec = failed[schema_id] = _failing(error)
        return dec


def _failing(error: DecodeError) -> Callable[[BytesLike], Any]:
    def decode(_: BytesLike) -> Any:
        raise DecodeError(error.reason_class, error.message)

    return decode
