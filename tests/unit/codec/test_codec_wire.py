"""Confluent wire format, the registry client (against a fake registry on 127.0.0.1) and
FramedCodec."""

from __future__ import annotations

import base64
import copy
import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import fastavro
import pytest

from rater.codec import avro, wire
from rater.codec.errors import DecodeError
from rater.core import inputs as inp

from .strategies import avro_datum

USAGE = inp.UsageRecord(
    "r-1",
    "8613800138000",
    inp.UsageType.VOICE,
    1776526200000,
    61,
    0,
    0,
    None,
    None,
    "GD",
    "LTE",
    inp.Roaming.NATIONAL,
    inp.Direction.MO,
    1,
)


# --- framing ---------------------------------------------------------------------------


def test_frame_layout() -> None:
    assert wire.frame(1, b"body") == b"\x00\x00\x00\x00\x01body"
    assert wire.frame(0x01020304, b"") == b"\x00\x01\x02\x03\x04"


def test_unframe_round_trip() -> None:
    for sid in (0, 1, 258, wire.MAX_SCHEMA_ID):
        assert wire.unframe(wire.frame(sid, b"xyz")) == (sid, b"xyz")
    assert wire.unframe(memoryview(wire.frame(7, b"ab"))) == (7, b"ab")


def test_unframe_bad_magic() -> None:
    with pytest.raises(DecodeError, match="bad magic byte 0x01") as info:
        wire.unframe(b"\x01\x00\x00\x00\x01body")
    assert info.value.reason_class == "DECODE_ERROR"


@pytest.mark.parametrize("data", [b"", b"\x00", b"\x00\x00\x00\x01"])
def test_unframe_too_short(data: bytes) -> None:
    with pytest.raises(DecodeError, match="too short") as info:
        wire.unframe(data)
    assert info.value.reason_class == "DECODE_ERROR"


def test_unframe_not_bytes() -> None:
    with pytest.raises(DecodeError, match="expected bytes"):
        wire.unframe(None)  # type: ignore[arg-type]


def test_frame_rejects_bad_ids() -> None:
    for sid in (-1, wire.MAX_SCHEMA_ID + 1):
        with pytest.raises(ValueError):
            wire.frame(sid, b"")


def test_subject_name() -> None:
    assert wire.subject_name("rater.usage") == "rater.usage-value"
    assert wire.subject_name("rater.usage", key=True) == "rater.usage-key"


# --- a fake registry -------------------------------------------------------------------


class FakeRegistry:
    def __init__(self) -> None:
        self.schemas: dict[int, str] = {}
        self.subjects: dict[str, list[int]] = {}
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        self.fail_with: int | None = None

    def register(self, subject: str, text: str) -> int:
        known = [k for k, v in self.schemas.items() if json.loads(v) == json.loads(text)]
        sid = known[0] if known else 100 + len(self.schemas)
        self.schemas[sid] = self.schemas.get(sid, text)
        self.subjects.setdefault(subject, []).append(sid)
        return sid


@pytest.fixture
def registry() -> Iterator[tuple[FakeRegistry, str]]:
    fake = FakeRegistry()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def reply(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            fake.requests.append(("POST", self.path, dict(self.headers), body))
            if fake.fail_with:
                return self.reply(
                    fake.fail_with, {"error_code": fake.fail_with * 100 + 1, "message": "nope"}
                )
            parts = self.path.split("/")
            if len(parts) == 4 and parts[1] == "subjects" and parts[3] == "versions":
                from urllib.parse import unquote

                return self.reply(200, {"id": fake.register(unquote(parts[2]), body["schema"])})
            return self.reply(404, {"error_code": 404, "message": "no route"})

        def do_GET(self) -> None:
            fake.requests.append(("GET", self.path, dict(self.headers), None))
            if fake.fail_with:
                return self.reply(fake.fail_with, {"error_code": 50001, "message": "down"})
            if self.path.startswith("/schemas/ids/"):
                sid = int(self.path.rsplit("/", 1)[1])
                if sid in fake.schemas:
                    return self.reply(200, {"schema": fake.schemas[sid]})
                return self.reply(404, {"error_code": 40403, "message": "Schema not found"})
            return self.reply(404, {"error_code": 404, "message": "no route"})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_register_and_cache(registry: tuple[FakeRegistry, str]) -> None:
    fake, url = registry
    client = wire.SchemaRegistryClient(url)
    sid = client.register("rater.usage-value", avro.USAGE.schema_text)
    assert sid == 100
    assert client.register("rater.usage-value", avro.USAGE.schema_text) == 100
    assert len(fake.requests) == 1
    method, path, headers, body = fake.requests[0]
    assert (method, path) == ("POST", "/subjects/rater.usage-value/versions")
    assert headers["Content-Type"] == "application/vnd.schemaregistry.v1+json"
    assert json.loads(body["schema"]) == avro.USAGE.schema
    # a dict is accepted as well; another subject asks again
    assert client.register("other-value", avro.USAGE.schema) == 100
    assert len(fake.requests) == 2
    # the schema of a registered id is known without asking
    assert json.loads(client.get_schema(100)) == avro.USAGE.schema
    assert len(fake.requests) == 2


def test_get_schema_and_cache(registry: tuple[FakeRegistry, str]) -> None:
    fake, url = registry
    sid = fake.register("s", avro.CHARGE.schema_text)
    client = wire.SchemaRegistryClient(url)
    assert client.get_schema(sid) == avro.CHARGE.schema_text
    assert client.get_schema(sid) == avro.CHARGE.schema_text
    assert [r[:2] for r in fake.requests] == [("GET", f"/schemas/ids/{sid}")]


def test_subject_is_url_quoted(registry: tuple[FakeRegistry, str]) -> None:
    fake, url = registry
    wire.SchemaRegistryClient(url).register("a/b c", avro.USAGE.schema_text)
    assert fake.requests[0][1] == "/subjects/a%2Fb%20c/versions"
    assert "a/b c" in fake.subjects


def test_basic_auth_header(registry: tuple[FakeRegistry, str]) -> None:
    fake, url = registry
    wire.SchemaRegistryClient(url, basic_auth=("user", "secret")).register("s", '"string"')
    expected = "Basic " + base64.b64encode(b"user:secret").decode()
    assert fake.requests[0][2]["Authorization"] == expected


def test_registry_errors(registry: tuple[FakeRegistry, str]) -> None:
    fake, url = registry
    client = wire.SchemaRegistryClient(url)
    with pytest.raises(wire.RegistryError) as info:
        client.get_schema(999)
    assert info.value.status == 404 and info.value.error_code == 40403
    assert "Schema not found" in str(info.value)
    fake.fail_with = 409
    with pytest.raises(wire.RegistryError) as info:
        client.register("s", avro.USAGE.schema_text)
    assert info.value.status == 409 and info.value.error_code == 40901


def test_unreachable_registry() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = wire.SchemaRegistryClient(f"http://127.0.0.1:{port}", timeout=2)
    with pytest.raises(wire.RegistryError) as info:
        client.get_schema(1)
    assert info.value.status is None


# --- FramedCodec -----------------------------------------------------------------------


def test_framed_codec_without_registry() -> None:
    codec = wire.FramedCodec(avro.USAGE, 42)
    data = codec.encode(USAGE)
    assert data[:5] == b"\x00\x00\x00\x00\x2a"
    assert data[5:] == avro.encode_usage(USAGE)
    assert codec.decode(data) == USAGE
    with pytest.raises(DecodeError, match="schema id 43 is not 42") as info:
        codec.decode(wire.frame(43, avro.encode_usage(USAGE)))
    assert info.value.reason_class == "SCHEMA_MISMATCH"
    with pytest.raises(DecodeError, match="magic"):
        codec.decode(b"\x7b\x22json\x22: 1}")
    for bad in (None, 5, "text"):
        with pytest.raises(DecodeError, match="expected bytes"):
            codec.decode(bad)  # type: ignore[arg-type]
    assert codec.decode(memoryview(data)) == USAGE
    with pytest.raises(DecodeError, match="UsageRecord"):
        codec.decode(data[:-1])


def test_framed_codec_registered(registry: tuple[FakeRegistry, str]) -> None:
    fake, url = registry
    assert not fake.schemas
    client = wire.SchemaRegistryClient(url)
    codec = wire.FramedCodec.registered(avro.USAGE, client, wire.subject_name("usage"))
    assert codec.schema_id == 100
    assert codec.decode(codec.encode(USAGE)) == USAGE


def test_framed_codec_resolves_other_writer_versions(registry: tuple[FakeRegistry, str]) -> None:
    fake, url = registry
    client = wire.SchemaRegistryClient(url)
    codec = wire.FramedCodec.registered(avro.USAGE, client, "usage-value")
    # a newer producer added a field with a default
    newer = copy.deepcopy(avro.USAGE.schema)
    newer["fields"].append({"name": "cell_id", "type": ["null", "string"], "default": None})
    new_id = fake.register("usage-value", json.dumps(newer))
    datum = avro_datum(USAGE) | {"cell_id": "4601-77"}
    bio = io.BytesIO()
    fastavro.schemaless_writer(
        bio, fastavro.parse_schema(avro.strip_logical_types(newer), named_schemas={}), datum
    )
    data = wire.frame(new_id, bio.getvalue())
    assert codec.decode(data) == USAGE
    assert codec.decode(data) == USAGE
    gets = [r for r in fake.requests if r[0] == "GET"]
    assert len(gets) == 1, "the writer schema is fetched once"


def test_framed_codec_unknown_id_is_schema_mismatch(registry: tuple[FakeRegistry, str]) -> None:
    fake, url = registry
    codec = wire.FramedCodec(avro.USAGE, 100, wire.SchemaRegistryClient(url))
    for _ in range(2):
        with pytest.raises(DecodeError, match="schema id 555 unknown") as info:
            codec.decode(wire.frame(555, b"\x00"))
        assert info.value.reason_class == "SCHEMA_MISMATCH"
    assert len(fake.requests) == 1, "an unknown id is not asked for again"


def test_framed_codec_other_schema_is_schema_mismatch(registry: tuple[FakeRegistry, str]) -> None:
    fake, url = registry
    client = wire.SchemaRegistryClient(url)
    codec = wire.FramedCodec.registered(avro.USAGE, client, "usage-value")
    charge_id = fake.register("charge-value", avro.CHARGE.schema_text)
    with pytest.raises(DecodeError) as info:
        codec.decode(wire.frame(charge_id, b"\x00" * 20))
    assert info.value.reason_class == "SCHEMA_MISMATCH"


def test_framed_codec_registry_down_is_not_a_decode_error(
    registry: tuple[FakeRegistry, str],
) -> None:
    fake, url = registry
    codec = wire.FramedCodec(avro.USAGE, 100, wire.SchemaRegistryClient(url))
    fake.fail_with = 503
    with pytest.raises(wire.RegistryError):
        codec.decode(wire.frame(101, b"\x00"))
    fake.fail_with = None
    fake.register("x", avro.USAGE.schema_text)  # id 100
    fake.register("x", json.dumps({**avro.USAGE.schema, "doc": "v2"}))  # same canonical form
    assert codec.decode(wire.frame(101, avro.encode_usage(USAGE))) == USAGE
