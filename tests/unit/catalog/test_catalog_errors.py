"""A bad catalog is refused whole, with every problem named: file, product, field, reason."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rater.catalog import CatalogError, CatalogIssue, load_catalog, parse_catalog

from .helpers import WriteDoc, WriteText, base_doc, product

Doc = dict[str, Any]


def refused(path: Path) -> CatalogError:
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    error = caught.value
    assert error.errors, "a CatalogError always lists at least one problem"
    assert str(error) == "\n".join(str(e) for e in error.errors)
    for issue in error.errors:
        assert str(issue).startswith(f"{path}: ")
    return error


def only_issue(error: CatalogError) -> CatalogIssue:
    assert len(error.errors) == 1, str(error)
    return error.errors[0]


def set_in(target: str, /, **fields: Any) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        product(doc, target).update(fields)

    return mutate


def drop_in(code: str, field: str) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        del product(doc, code)[field]

    return mutate


def set_top(**fields: Any) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        doc.update(fields)

    return mutate


def drop_top(field: str) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        del doc[field]

    return mutate


def add_pack(**fields: Any) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        doc["packs"].append(fields)

    return mutate


# (mutation, product label or None for top level, field, words the reason must contain)
CASES: list[tuple[str, Callable[[Doc], None], str | None, str, str]] = [
    ("unknown kind", set_in("N2G", kind="nite"), "pack N2G", "kind", "unknown pack kind 'nite'"),
    ("kind missing", drop_in("N2G", "kind"), "pack N2G", "kind", "required field is missing"),
    ("night zero data", set_in("N2G", data=0), "pack N2G", "data", "must be > 0 for a night"),
    ("recurring no data", drop_in("R5G", "data"), "pack R5G", "data", "required for a recurring"),
    ("topup zero data", set_in("T1G", data="0GB"), "pack T1G", "data", "must be > 0 for a topup"),
    ("month_end zero", set_in("ME500M", data=0), "pack ME500M", "data", "must be > 0"),
    ("term zero data", set_in("Q30G", data=0), "pack Q30G", "data", "must be > 0 for a term"),
    ("directional zero", set_in("DMIGU6G", data=0), "pack DMIGU6G", "data", "must be > 0"),
    ("negative data", set_in("N2G", data=-1), "pack N2G", "data", "must be >= 0"),
    ("negative data str", set_in("N2G", data="-2GB"), "pack N2G", "data", "must be >= 0"),
    ("plan negative data", set_in("P58", data=-5), "plan P58", "data", "must be >= 0"),
    ("negative pack fee", set_in("T1G", fee_fen=-100), "pack T1G", "fee_fen", "must be >= 0"),
    ("negative plan fee", set_in("P58", fee_fen=-1), "plan P58", "fee_fen", "must be >= 0"),
    (
        "negative price",
        set_in(
            "P58", prices={"data_fen_per_mb": -29, "voice_fen_per_min": 19, "video_fen_per_min": 29}
        ),
        "plan P58",
        "prices.data_fen_per_mb",
        "must be >= 0",
    ),
    (
        "missing price",
        set_in("P58", prices={"data_fen_per_mb": 29, "voice_fen_per_min": 19}),
        "plan P58",
        "prices.video_fen_per_min",
        "required field is missing",
    ),
    ("negative minutes", set_in("P58", voice_min=-1), "plan P58", "voice_min", "must be >= 0"),
    ("fee as string", set_in("P58", fee_fen="5800"), "plan P58", "fee_fen", "expected an integer"),
    ("fee as float", set_in("P58", fee_fen=58.0), "plan P58", "fee_fen", "expected an integer"),
    ("size as float", set_in("P58", data=1.5), "plan P58", "data", "expected a size"),
    ("size bad unit", set_in("P58", data="3gb"), "plan P58", "data", "unknown size unit 'gb'"),
    ("size no unit", set_in("P58", data="3000"), "plan P58", "data", "not a size"),
    ("size fraction", set_in("P58", data="0.1KB"), "plan P58", "data", "not a whole number"),
    (
        "night start 25:00",
        set_top(night_window={"start": "25:00", "end": "07:00"}),
        None,
        "night_window.start",
        "hour out of range",
    ),
    (
        "night end 7pm",
        set_top(night_window={"start": "23:00", "end": "7pm"}),
        None,
        "night_window.end",
        "not a time of day: '7pm'",
    ),
    (
        "night minute 60",
        set_top(night_window={"start": "23:60", "end": "07:00"}),
        None,
        "night_window.start",
        "minute out of range",
    ),
    (
        "night start == end",
        set_top(night_window={"start": "07:00", "end": "07:00"}),
        None,
        "night_window",
        "same time",
    ),
    (
        "night missing end",
        set_top(night_window={"start": "23:00"}),
        None,
        "night_window.end",
        "required field is missing",
    ),
    (
        "term 30 days",
        set_in("Q30G", validity_days=30),
        "pack Q30G",
        "validity_days",
        "must be one of [90, 180]",
    ),
    (
        "term 0 days",
        set_in("Q30G", validity_days=0),
        "pack Q30G",
        "validity_days",
        "must be one of [90, 180]",
    ),
    (
        "term no validity",
        drop_in("Q30G", "validity_days"),
        "pack Q30G",
        "validity_days",
        "required for a term pack",
    ),
    (
        "validity on non-term",
        set_in("R5G", validity_days=90),
        "pack R5G",
        "validity_days",
        "only allowed for term packs",
    ),
    (
        "directional no apps",
        drop_in("DMIGU6G", "apps"),
        "pack DMIGU6G",
        "apps",
        "needs at least one app id",
    ),
    (
        "directional empty lists",
        set_in("DMIGU6G", apps=[], rating_groups=[]),
        "pack DMIGU6G",
        "apps",
        "needs at least one app id",
    ),
    (
        "directional blank app",
        set_in("DMIGU6G", apps=["migu.video", " "]),
        "pack DMIGU6G",
        "apps[1]",
        "must not be empty",
    ),
    (
        "directional dup app",
        set_in("DMIGU6G", apps=["a", "a"]),
        "pack DMIGU6G",
        "apps",
        "listed more than once: a",
    ),
    (
        "rating group negative",
        set_in("DMIGU6G", rating_groups=[-1]),
        "pack DMIGU6G",
        "rating_groups[0]",
        "must be >= 0",
    ),
    (
        "directional next cycle",
        set_in("DMIGU6G", effective="next_cycle"),
        "pack DMIGU6G",
        "effective",
        "must be immediate",
    ),
    (
        "apps on non-directional",
        set_in("T1G", apps=["x"]),
        "pack T1G",
        "apps",
        "only allowed for directional packs",
    ),
    (
        "topup monthly",
        set_in("T1G", fee_mode="monthly"),
        "pack T1G",
        "fee_mode",
        "not allowed for a topup pack",
    ),
    (
        "month_end daily",
        set_in("ME500M", fee_mode="daily_by_usage"),
        "pack ME500M",
        "fee_mode",
        "not allowed for a month_end pack",
    ),
    (
        "term monthly",
        set_in("Q30G", fee_mode="monthly"),
        "pack Q30G",
        "fee_mode",
        "not allowed for a term pack",
    ),
    (
        "recurring once",
        set_in("R5G", fee_mode="once"),
        "pack R5G",
        "fee_mode",
        "not allowed for a recurring pack",
    ),
    (
        "directional monthly",
        set_in("DMIGU6G", fee_mode="monthly"),
        "pack DMIGU6G",
        "fee_mode",
        "not allowed for a directional pack",
    ),
    ("plan once", set_in("P58", fee_mode="once"), "plan P58", "fee_mode", "not allowed for a plan"),
    (
        "unknown fee mode",
        set_in("P58", fee_mode="weekly"),
        "plan P58",
        "fee_mode",
        "unknown fee mode 'weekly'",
    ),
    (
        "unknown effective",
        set_in("N2G", effective="tomorrow"),
        "pack N2G",
        "effective",
        "unknown effective 'tomorrow'",
    ),
    (
        "topup carries",
        set_in("T1G", carries_over=True),
        "pack T1G",
        "carries_over",
        "never carries over",
    ),
    (
        "month_end carries",
        set_in("ME500M", carries_over=True),
        "pack ME500M",
        "carries_over",
        "never carries over",
    ),
    (
        "term carries",
        set_in("Q30G", carries_over=True),
        "pack Q30G",
        "carries_over",
        "never carries over",
    ),
    (
        "directional carries",
        set_in("DMIGU6G", carries_over=True),
        "pack DMIGU6G",
        "carries_over",
        "never carries over",
    ),
    (
        "assured carries",
        set_in("AUNL", carries_over=True),
        "pack AUNL",
        "carries_over",
        "never carries over",
    ),
    (
        "carries not bool",
        set_in("N2G", carries_over="yes"),
        "pack N2G",
        "carries_over",
        "expected true or false",
    ),
    (
        "month_end 0 orders",
        set_in("ME500M", max_orders_per_cycle=0),
        "pack ME500M",
        "max_orders_per_cycle",
        "must be > 0",
    ),
    (
        "max orders on topup",
        set_in("T1G", max_orders_per_cycle=5),
        "pack T1G",
        "max_orders_per_cycle",
        "only allowed for month_end packs",
    ),
    (
        "throttle on night",
        set_in("N2G", throttle_kbps=64),
        "pack N2G",
        "throttle_kbps",
        "only allowed for assured packs",
    ),
    (
        "assured throttle 0",
        set_in("AUNL", throttle_kbps=0),
        "pack AUNL",
        "throttle_kbps",
        "must be > 0",
    ),
    ("negative priority", set_in("N2G", priority=-1), "pack N2G", "priority", "must be >= 0"),
    (
        "plan cap below data",
        set_in("P58", fair_use_cap="1GB"),
        "plan P58",
        "fair_use_cap",
        "below the plan's included data",
    ),
    ("plan cap zero", set_in("P58", fair_use_cap=0), "plan P58", "fair_use_cap", "must be > 0"),
    (
        "plan throttle no cap",
        set_in("P58", throttle_kbps=128),
        "plan P58",
        "throttle_kbps",
        "only meaningful with a fair_use_cap",
    ),
    (
        "plan throttle 0",
        set_in("P58", fair_use_cap="40GB", throttle_kbps=0),
        "plan P58",
        "throttle_kbps",
        "must be > 0",
    ),
    (
        "prorate on daily",
        set_in("P58", fee_mode="daily_by_usage", prorate_first_cycle=False),
        "plan P58",
        "prorate_first_cycle",
        "only for the monthly fee mode",
    ),
    (
        "plan missing voice",
        drop_in("P58", "voice_min"),
        "plan P58",
        "voice_min",
        "required field is missing",
    ),
    ("unknown plan field", set_in("P58", colour="red"), "plan P58", "colour", "unknown field"),
    ("unknown pack field", set_in("N2G", nite=True), "pack N2G", "nite", "unknown field"),
    (
        "unknown price field",
        set_in(
            "P58",
            prices={
                "data_fen_per_mb": 1,
                "voice_fen_per_min": 1,
                "video_fen_per_min": 1,
                "sms_fen": 10,
            },
        ),
        "plan P58",
        "prices.sms_fen",
        "unknown field",
    ),
    ("unknown top field", set_top(cycle_day=1), None, "cycle_day", "unknown field"),
    ("blank name", set_in("N2G", name="  "), "pack N2G", "name", "must not be empty"),
    ("bad code", set_in("N2G", code="N 2G"), "pack N 2G", "code", "not a valid product code"),
    ("code not a string", set_in("N2G", code=False), "pack #6", "code", "expected a string"),
    (
        "duplicate pack code",
        set_in("T1G", code="N2G"),
        "pack N2G",
        "code",
        "duplicate product code 'N2G'",
    ),
    (
        "plan/pack code clash",
        set_in("N2G", code="P58"),
        "pack P58",
        "code",
        "duplicate product code 'P58' (already the code of plan #1",
    ),
    ("missing version", drop_top("version"), None, "version", "required field is missing"),
    ("empty version", set_top(version=""), None, "version", "must not be empty"),
    ("numeric version", set_top(version=1.0), None, "version", "expected a string"),
    (
        "unknown timezone",
        set_top(timezone="Mars/Olympus_Mons"),
        None,
        "timezone",
        "unknown time zone 'Mars/Olympus_Mons'",
    ),
    ("path timezone", set_top(timezone="../../etc/passwd"), None, "timezone", "unknown time zone"),
    ("localtime", set_top(timezone="localtime"), None, "timezone", "not an IANA time zone name"),
    ("DST timezone", set_top(timezone="Europe/London"), None, "timezone", "no fixed UTC offset"),
    (
        "DST timezone US",
        set_top(timezone="America/New_York"),
        None,
        "timezone",
        "no fixed UTC offset",
    ),
    ("no plans", set_top(plans=[]), None, "plans", "at least 1"),
    ("plans not a list", set_top(plans={"P58": {}}), None, "plans", "expected a list"),
    ("packs not a list", set_top(packs="N2G"), None, "packs", "expected a list"),
]


@pytest.mark.parametrize(
    ("mutate", "where", "field", "words"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_bad_catalog_is_refused_naming_file_product_field_and_reason(
    write_doc: WriteDoc,
    mutate: Callable[[Doc], None],
    where: str | None,
    field: str,
    words: str,
) -> None:
    doc = base_doc()
    mutate(doc)
    path = write_doc(doc, "bad.yaml")
    error = refused(path)
    prefix = f"{path}: " + (f"{where}: " if where else "") + f"field {field}: "
    matching = [m for m in error.messages if m.startswith(prefix)]
    assert matching, f"no message starts with {prefix!r}:\n{error}"
    assert any(words in m for m in matching), f"{words!r} not in {matching}"


def test_message_format_of_the_brief(write_doc: WriteDoc) -> None:
    doc = base_doc()
    product(doc, "N2G")["kind"] = "nite"
    path = write_doc(doc, "bad.yaml")
    issue = only_issue(refused(path))
    assert str(issue) == (
        f"{path}: pack N2G: field kind: unknown pack kind 'nite' (expected one of recurring, "
        "topup, month_end, term, directional, night, assured)"
    )
    assert (issue.source, issue.product, issue.field) == (str(path), "pack N2G", "kind")


def test_the_base_document_of_these_tests_is_valid(write_doc: WriteDoc) -> None:
    catalog = load_catalog(write_doc(base_doc()))
    assert len(catalog.packs) == 7


def test_all_problems_are_reported_together(write_doc: WriteDoc) -> None:
    doc = base_doc()
    del doc["version"]
    doc["timezone"] = "Europe/Paris"
    product(doc, "P58")["fee_fen"] = -1
    product(doc, "P58")["fee_mode"] = "once"  # found although fee_fen failed to parse
    product(doc, "N2G")["kind"] = "nite"
    product(doc, "Q30G").update(validity_days=30, carries_over=True, data=0)
    product(doc, "T1G")["code"] = "R5G"
    error = refused(write_doc(doc))
    located = {(e.product, e.field) for e in error.errors}
    assert located == {
        (None, "version"),
        (None, "timezone"),
        ("plan P58", "fee_fen"),
        ("plan P58", "fee_mode"),
        ("pack N2G", "kind"),
        ("pack Q30G", "validity_days"),
        ("pack Q30G", "carries_over"),
        ("pack Q30G", "data"),
        ("pack R5G", "code"),
    }
    assert len(str(error).splitlines()) == len(error.errors) == 9


def test_checks_involving_a_field_that_failed_are_skipped(write_doc: WriteDoc) -> None:
    doc = base_doc()
    # fair_use_cap fails to parse: "throttle_kbps needs a cap" must not be claimed as well
    product(doc, "P58").update(fair_use_cap="lots", throttle_kbps=256)
    error = refused(write_doc(doc))
    assert [(e.product, e.field) for e in error.errors] == [("plan P58", "fair_use_cap")]


def test_a_product_that_is_not_a_mapping(write_doc: WriteDoc) -> None:
    doc = base_doc()
    doc["packs"].append("N5G")
    path = write_doc(doc)
    issue = only_issue(refused(path))
    assert str(issue) == f"{path}: pack #8: expected a mapping of fields, got 'N5G'"


def test_yaml_syntax_error_names_the_line(write_text: WriteText) -> None:
    path = write_text('version: "1"\nplans:\n  - code: P58\n    name: [unclosed\n')
    issue = only_issue(refused(path))
    assert issue.line is not None
    assert "YAML syntax error" in issue.reason
    assert str(issue).startswith(f"{path}: line {issue.line}, column ")


def test_bad_indentation_names_its_line(write_text: WriteText) -> None:
    path = write_text('version: "1"\nplans:\n  - code: P58\n   name: x\n')
    issue = only_issue(refused(path))
    assert issue.line == 4
    assert "YAML syntax error" in str(issue)


def test_duplicate_yaml_key_is_refused_with_both_lines(write_text: WriteText) -> None:
    path = write_text('version: "1"\nversion: "2"\nplans: []\n')
    issue = only_issue(refused(path))
    assert issue.line == 2
    assert "duplicate key 'version' (first given at line 1)" in issue.reason


def test_merge_keys_may_be_overridden(write_text: WriteText) -> None:
    text = """
version: "1"
plans:
  - &base
    code: P58
    name: base
    fee_fen: 5800
    data: 3GB
    voice_min: 300
    video_min: 0
    prices: {data_fen_per_mb: 29, voice_fen_per_min: 19, video_fen_per_min: 29}
  - <<: *base
    code: P68
    fee_fen: 6800
"""
    catalog = load_catalog(write_text(text))
    assert catalog.plans["P68"].fee_fen == 6800
    assert catalog.plans["P68"].data_bytes == catalog.plans["P58"].data_bytes


def test_unquoted_time_gets_a_hint(write_text: WriteText) -> None:
    # YAML 1.1 reads 23:00 as the base-60 integer 1380 (07:00 stays a string)
    path = write_text(
        'version: "1"\nnight_window: {start: 23:00, end: "07:00"}\nplans:\n'
        "  - {code: P, name: p, fee_fen: 0, data: 0, voice_min: 0, video_min: 0,\n"
        "     prices: {data_fen_per_mb: 0, voice_fen_per_min: 0, video_fen_per_min: 0}}\n"
    )
    issue = only_issue(refused(path))
    assert issue.field == "night_window.start"
    assert "got the number 1380" in issue.reason
    assert "unquoted 23:00" in issue.reason


def test_unquoted_date_version_gets_a_hint(write_text: WriteText) -> None:
    path = write_text("version: 2026-11-01\nplans: []\n")
    error = refused(path)
    version = next(e for e in error.errors if e.field == "version")
    assert 'quote it: "2026-11-01"' in version.reason


def test_yaml_boolean_code_is_refused(write_text: WriteText) -> None:
    # YAML 1.1 reads NO (Norway?) as false
    path = write_text(
        'version: "1"\nplans:\n'
        "  - {code: NO, name: p, fee_fen: 0, data: 0, voice_min: 0, video_min: 0,\n"
        "     prices: {data_fen_per_mb: 0, voice_fen_per_min: 0, video_fen_per_min: 0}}\n"
    )
    issue = only_issue(refused(path))
    assert (issue.product, issue.field) == ("plan #1", "code")
    assert "a boolean" in issue.reason


def test_unsafe_yaml_tags_are_refused(write_text: WriteText) -> None:
    path = write_text("version: !!python/object/apply:os.getcwd []\nplans: []\n")
    issue = only_issue(refused(path))
    assert "YAML error" in issue.reason


def test_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    issue = only_issue(refused(missing))
    assert issue.reason.startswith("cannot read catalog file")
    issue = only_issue(refused(tmp_path))  # a directory
    assert issue.reason.startswith("cannot read catalog file")


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes('version: "caf\xe9"\n'.encode("latin-1"))
    assert "not UTF-8" in only_issue(refused(path)).reason


@pytest.mark.parametrize(
    ("text", "words"),
    [("", "the file is empty"), ("- a\n- b\n", "expected a mapping at the top level")],
)
def test_file_that_is_not_a_catalog(write_text: WriteText, text: str, words: str) -> None:
    assert words in only_issue(refused(write_text(text))).reason


def test_parse_catalog_names_its_source() -> None:
    with pytest.raises(CatalogError) as caught:
        parse_catalog("plans: []\n", source="inline")
    assert all(m.startswith("inline: ") for m in caught.value.messages)


def test_catalog_error_is_a_value_error() -> None:
    assert issubclass(CatalogError, ValueError)
