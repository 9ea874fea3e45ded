"""The schema files: valid, documented, and in lock-step with the Python dataclasses."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
import types
import typing
from enum import Enum
from pathlib import Path
from typing import Any

import fastavro
import pytest

from rater.codec import avro
from rater.codec.deadletter import DeadLetter
from rater.codec.errors import SchemaError
from rater.core import events as ev
from rater.core import inputs as inp

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"
COMMON_EVENT_FIELDS = ("event_id", "msisdn", "account", "event_time", "cycle", "catalog_version")


def load(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS / name).read_text())
    return schema


def walk(schema: Any) -> typing.Iterator[dict[str, Any]]:
    """Every named type (record, enum) defined in a schema."""
    if isinstance(schema, dict):
        if schema.get("type") in ("record", "enum"):
            yield schema
        for f in schema.get("fields", []):
            yield from walk(f["type"])
        if schema.get("type") == "array":
            yield from walk(schema["items"])
    elif isinstance(schema, list):
        for s in schema:
            yield from walk(s)


def test_one_file_per_type_and_nothing_else() -> None:
    expected = {file for file, _ in avro.SCHEMA_FILES.values()}
    assert {p.name for p in SCHEMAS.glob("*.avsc")} == expected


@pytest.mark.parametrize("kind", sorted(avro.SCHEMA_FILES))
def test_schema_parses_with_namespace_and_docs(kind: str) -> None:
    file, record = avro.SCHEMA_FILES[kind]
    raw = load(file)
    fastavro.parse_schema(raw, named_schemas={})
    assert raw["namespace"] == "rater.v1"
    assert raw["name"] == record
    for named in walk(raw):
        assert named.get("doc"), f"{file}: {named['name']} has no doc"
        for f in named.get("fields", []):
            assert f.get("doc"), f"{file}: {named['name']}.{f['name']} has no doc"
            if isinstance(f["type"], list) and "null" in f["type"]:
                assert f["type"][0] == "null" and f.get("default", "x") is None, (
                    f"{file}: nullable {f['name']} should be [null, T] with default null"
                )


PY_ENUMS: dict[str, type[Enum]] = {e.__name__: e for e in avro.BINDING.enums.values()}


def test_enum_symbols_equal_python_enums_in_order() -> None:
    seen = set()
    for file, _ in avro.SCHEMA_FILES.values():
        for named in walk(load(file)):
            if named["type"] == "enum":
                py = PY_ENUMS[named["name"]]
                assert named["symbols"] == [m.value for m in py], f"{file}: {named['name']}"
                seen.add(py)
    assert seen == set(PY_ENUMS.values()), "every Python enum appears in a schema"


def _py_fields(cls: type[Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls, vars(inp) | vars(ev))
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _nullable(tp: Any) -> bool:
    return isinstance(tp, types.UnionType) and type(None) in tp.__args__


def _check_fields(cls: type[Any], avro_fields: list[dict[str, Any]]) -> None:
    py = _py_fields(cls)
    assert [f["name"] for f in avro_fields] == list(py), f"{cls.__name__}: field order"
    for f in avro_fields:
        t = f["type"]
        is_null_union = isinstance(t, list) and "null" in t
        assert is_null_union == _nullable(py[f["name"]]), f"{cls.__name__}.{f['name']}"
        base = py[f["name"]]
        if _nullable(base):
            (base,) = [a for a in base.__args__ if a is not type(None)]
            t = t[1]
        if isinstance(t, dict) and t.get("logicalType") == "timestamp-millis":
            assert base is int
        if t in ("long", "int"):
            assert base is int, f"{cls.__name__}.{f['name']}"
        if t == "string":
            assert base is str, f"{cls.__name__}.{f['name']}"
        if t == "boolean":
            assert base is bool, f"{cls.__name__}.{f['name']}"
        if isinstance(t, dict) and t["type"] == "array":
            assert typing.get_origin(base) is tuple, f"{cls.__name__}.{f['name']}"


@pytest.mark.parametrize(
    ("kind", "cls"),
    [
        ("usage", inp.UsageRecord),
        ("charge", ev.ChargeEvent),
        ("throttle", ev.ThrottleEvent),
        ("notification", ev.NotificationEvent),
        ("unrated", ev.UnratedEvent),
        ("dead_letter", DeadLetter),
    ],
)
def test_record_fields_match_dataclass(kind: str, cls: type[Any]) -> None:
    _check_fields(cls, load(avro.SCHEMA_FILES[kind][0])["fields"])


def test_draw_fields_match_dataclass() -> None:
    (draws,) = [f for f in load("charge_event.avsc")["fields"] if f["name"] == "draws"]
    _check_fields(ev.Draw, draws["type"]["items"]["fields"])


def test_command_branches_match_dataclasses() -> None:
    raw = load("command.avsc")
    common = [f for f in raw["fields"] if f["name"] != "body"]
    (body,) = [f for f in raw["fields"] if f["name"] == "body"]
    branches = {b["name"]: b for b in body["type"]}
    assert set(branches) == {c.__name__ for c in typing.get_args(inp.Command)} | {"Tick"}
    for name, branch in branches.items():
        if name == "Tick":  # a tick has only the time; command_id and msisdn default to ""
            _check_fields(inp.Tick, [common[2]])
            assert [f.get("default") for f in common[:2]] == ["", ""]
            assert branch["fields"] == []
            continue
        _check_fields(getattr(inp, name), common + branch["fields"])


def test_time_fields_are_timestamp_millis() -> None:
    for file, names in [
        ("usage_record.avsc", ["start_time"]),
        ("command.avsc", ["time"]),
        ("dead_letter.avsc", ["timestamp"]),
    ] + [
        (f, ["event_time"])
        for f in (
            "charge_event.avsc",
            "throttle_event.avsc",
            "notification_event.avsc",
            "unrated_event.avsc",
        )
    ]:
        fields = {f["name"]: f["type"] for f in load(file)["fields"]}
        for n in names:
            assert fields[n] == {"type": "long", "logicalType": "timestamp-millis"}, (file, n)


@pytest.mark.parametrize("kind", ["charge", "throttle", "notification", "unrated"])
def test_every_event_has_the_common_fields(kind: str) -> None:
    names = [f["name"] for f in load(avro.SCHEMA_FILES[kind][0])["fields"]]
    assert tuple(names[:6]) == COMMON_EVENT_FIELDS


def test_schemas_dir_defaults_to_repo_and_env_overrides(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(avro.ENV_SCHEMAS_DIR, raising=False)
    assert avro.schemas_dir() == SCHEMAS
    monkeypatch.setenv(avro.ENV_SCHEMAS_DIR, str(tmp_path))
    assert avro.schemas_dir() == tmp_path


def test_env_override_is_used_at_import(tmp_path: Path) -> None:
    copy = tmp_path / "s"
    shutil.copytree(SCHEMAS, copy)
    code = "from rater.codec import avro; print(avro.SCHEMAS.directory)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"RATER_SCHEMAS_DIR": str(copy), "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == str(copy)


def test_load_from_a_copy(tmp_path: Path) -> None:
    shutil.copytree(SCHEMAS, tmp_path, dirs_exist_ok=True)
    s = avro.load_schemas(tmp_path)
    assert s.usage.fingerprint == avro.USAGE.fingerprint
    rec = inp.UsageRecord(
        "r", "m", inp.UsageType.DATA, 1, 2, 3, 4, None, None, "p", "r", inp.Roaming.HOME, None, 0
    )
    assert s.usage.decode(avro.encode_usage(rec)) == rec


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match=r"usage_record\.avsc not found.*RATER_SCHEMAS_DIR"):
        avro.load_schemas(tmp_path / "nowhere")


def _mutated(tmp_path: Path, file: str, edit: typing.Callable[[dict[str, Any]], None]) -> Path:
    shutil.copytree(SCHEMAS, tmp_path, dirs_exist_ok=True)
    raw = load(file)
    edit(raw)
    (tmp_path / file).write_text(json.dumps(raw))
    return tmp_path


def test_drift_field_rename_fails_loading(tmp_path: Path) -> None:
    def rename(raw: dict[str, Any]) -> None:
        raw["fields"][1]["name"] = "msisdn2"

    with pytest.raises(SchemaError, match="UsageRecord"):
        avro.load_schemas(_mutated(tmp_path, "usage_record.avsc", rename))


def test_drift_enum_symbol_fails_loading(tmp_path: Path) -> None:
    def add_symbol(raw: dict[str, Any]) -> None:
        raw["fields"][6]["type"]["symbols"].append("OTHER")

    with pytest.raises(SchemaError, match="ChargeKind"):
        avro.load_schemas(_mutated(tmp_path, "charge_event.avsc", add_symbol))


def test_drift_missing_command_branch_fails_loading(tmp_path: Path) -> None:
    def drop(raw: dict[str, Any]) -> None:
        raw["fields"][3]["type"].pop()

    with pytest.raises(SchemaError, match="Tick"):
        avro.load_schemas(_mutated(tmp_path, "command.avsc", drop))


def test_left_out_common_field_needs_a_default(tmp_path: Path) -> None:
    def no_default(raw: dict[str, Any]) -> None:
        del raw["fields"][1]["default"]

    with pytest.raises(SchemaError, match="'msisdn' is left out but has no default"):
        avro.load_schemas(_mutated(tmp_path, "command.avsc", no_default))


def test_invalid_schema_fails_loading(tmp_path: Path) -> None:
    def break_it(raw: dict[str, Any]) -> None:
        raw["fields"][0]["type"] = "no-such-type"

    with pytest.raises(SchemaError, match="invalid Avro schema"):
        avro.load_schemas(_mutated(tmp_path, "throttle_event.avsc", break_it))


def test_enum_symbol_order_may_differ_from_python(tmp_path: Path) -> None:
    """Only the symbol sets must agree: indexes come from the schema."""

    def reverse(raw: dict[str, Any]) -> None:
        raw["fields"][2]["type"]["symbols"].reverse()

    s = avro.load_schemas(_mutated(tmp_path, "usage_record.avsc", reverse))
    rec = inp.UsageRecord(
        "r", "m", inp.UsageType.VIDEO, 1, 2, 3, 4, None, None, "p", "r", inp.Roaming.HOME, None, 0
    )
    body = s.usage.encode(rec)
    assert body != avro.encode_usage(rec)
    assert s.usage.decode(body) == rec
