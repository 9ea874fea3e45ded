"""`rater check`: every problem of the input files, with file and line (rater/check/),
and a subscribers file with MSISDNs that YAML reads as numbers refused on load."""

from __future__ import annotations

from pathlib import Path

import pytest

from rater.check import Problem, check_files, format_problems, summary_line
from rater.core.cycles import to_ms
from rater.subscribers import SubscribersError, load_subscribers

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CATALOG = EXAMPLES / "catalog-basic.yaml"
NOW = to_ms("2026-05-01T00:00:00+08:00")

HEAD = "subscribers:\n"


def entry(msisdn: str, *extra: str, province: str = "GD") -> str:
    lines = [
        f"  - msisdn: {msisdn}",
        "    plan: P58",
        f"    home_province: {province}",
        '    activated: "2026-03-01T00:00:00+08:00"',
        *(f"    {x}" for x in extra),
    ]
    return "\n".join(lines) + "\n"


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def run(tmp_path: Path, subs: str, **files: str) -> list[Problem]:
    paths = {k: write(tmp_path, f"{k}.txt", v) for k, v in files.items()}
    return check_files(
        CATALOG,
        write(tmp_path, "subs.yaml", HEAD + subs),
        usage_path=paths.get("usage"),
        commands_path=paths.get("commands"),
        now_ms=NOW,
    )


def lines(problems: list[Problem]) -> list[str]:
    return [str(p) for p in problems]


# -- 1. MSISDNs that YAML reads as numbers ----------------------------------------------


def test_unquoted_msisdns_are_refused_with_a_hint(tmp_path: Path) -> None:
    subs = (
        entry("01234567") + entry("13800000001") + entry('"13800000002"', "shares_with: 01234567")
    )
    got = lines(run(tmp_path, subs))
    f = tmp_path / "subs.yaml"
    assert got == [
        f"{f}:2: msisdn: subscriber #1: msisdn 01234567 is read by YAML as the number 342391: "
        'write it in quotes, msisdn: "01234567"',
        f"{f}:6: msisdn: subscriber #2: msisdn 13800000001 is read by YAML as the number "
        '13800000001: write it in quotes, msisdn: "13800000001"',
        f"{f}:14: shares_with: subscriber #3: shares_with 01234567 is read by YAML as the number "
        '342391: write it in quotes, shares_with: "01234567"',
    ]  # and no "unknown owner" for 01234567: it is taken as written


def test_load_subscribers_refuses_unquoted_msisdns(tmp_path: Path) -> None:
    p = write(tmp_path, "s.yaml", HEAD + entry('"13800000001"') + entry("01234567"))
    with pytest.raises(SubscribersError) as e:
        load_subscribers(p)
    assert str(e.value) == (
        f"{p}:6: subscriber #2: field msisdn: msisdn 01234567 is read by YAML as the number "
        '342391: write it in quotes, msisdn: "01234567"'
    )


def test_quoted_msisdns_load_as_written(tmp_path: Path) -> None:
    p = write(tmp_path, "s.yaml", HEAD + entry('"01234567"') + entry("'13800000001'"))
    assert [s.msisdn for s in load_subscribers(p)] == ["01234567", "13800000001"]


# -- 2. unknown plan and pack codes ------------------------------------------------------


def test_unknown_and_misplaced_product_codes(tmp_path: Path) -> None:
    subs = entry(
        '"13800000001"',
        "packs: [N2G, NOPE, P58]",
        "orders:",
        '  - {product: XX, at: "2026-03-20T10:00:00+08:00"}',
        '  - {cancel: YY, at: "2026-03-21T10:00:00+08:00"}',
    ).replace("plan: P58", "plan: P99")
    got = lines(run(tmp_path, subs))
    f = tmp_path / "subs.yaml"
    packs = "(catalog 2026-11-example-1 packs: N2G, DMIGU6G, T1G, ME500M)"
    assert got == [
        f"{f}:3: plan: subscriber #1 (13800000001): unknown plan 'P99' "
        "(catalog 2026-11-example-1 plans: P58, D5)",
        f"{f}:6: packs[1]: subscriber #1 (13800000001): unknown pack 'NOPE' {packs}",
        f"{f}:6: packs[2]: subscriber #1 (13800000001): P58 is a plan, not a pack "
        "(a plan is changed with a change_plan command)",
        f"{f}:8: orders[0].product: subscriber #1 (13800000001): unknown pack 'XX' {packs}",
        f"{f}:9: orders[1].cancel: subscriber #1 (13800000001): unknown pack 'YY' {packs}",
    ]


# -- 3. sharing ----------------------------------------------------------------------------


def test_sharing_problems(tmp_path: Path) -> None:
    subs = (
        entry('"1"')  # line 2
        + entry('"2"', 'shares_with: "1"')  # 6
        + entry('"3"', 'shares_with: "2"')  # 11: a member's member
        + entry('"4"', 'shares_with: "4"')  # 16: itself
        + entry('"5"', 'shares_with: "6"')  # 21: listed later
        + entry('"6"')  # 26
        + entry('"7"', 'shares_with: "99"')  # 30: nobody
        + entry('"8"', 'shares_with: "1"', province="BJ")  # 35: another province
    )
    got = lines(run(tmp_path, subs))
    f = tmp_path / "subs.yaml"
    assert got == [
        f"{f}:15: shares_with: subscriber #3 (3): owner 2 is itself a member of 1: sharing "
        "groups cannot be nested (share with 1 instead)",
        f"{f}:20: shares_with: subscriber #4 (4): a subscriber cannot share with itself",
        f"{f}:25: shares_with: subscriber #5 (5): owner 6 must be listed before its members "
        "(it is at line 26)",
        f"{f}:34: shares_with: subscriber #7 (7): no subscriber 99 in this file",
        f"{f}:37: home_province: subscriber #8 (8): home_province BJ is not the owner's "
        "(1: GD): a sharing member must be of the owner's province",
    ]


# -- 4, 5. cycle days, duplicates, other field errors --------------------------------------


def test_cycle_day_duplicates_and_field_errors(tmp_path: Path) -> None:
    subs = (
        entry('"13800000001"', "cycle_day: 31")
        + entry('"13800000002"', "colour: red").replace(
            '"2026-03-01T00:00:00+08:00"', '"2026-03-01T00:00:00"'
        )
        + entry('"13800000001"', "cycle_day: 0")
    )
    got = lines(run(tmp_path, subs))
    f = tmp_path / "subs.yaml"
    assert got == [
        f"{f}:6: cycle_day: subscriber #1 (13800000001): cycle day must be 1..28, got 31",
        f"{f}:10: activated: subscriber #2 (13800000002): time '2026-03-01T00:00:00' needs "
        "a UTC offset, e.g. +08:00",
        f"{f}:11: colour: subscriber #2 (13800000002): unknown field",
        f"{f}:12: msisdn: subscriber #3 (13800000001): duplicate msisdn: already at line 2",
        f"{f}:16: cycle_day: subscriber #3 (13800000001): cycle day must be 1..28, got 0",
    ]


def test_yaml_syntax_error_has_its_line(tmp_path: Path) -> None:
    got = lines(run(tmp_path, entry('"1"') + "  - msisdn: [\n"))
    assert len(got) == 1
    assert got[0].startswith(f"{tmp_path / 'subs.yaml'}:7: not valid YAML")


def test_bad_catalog_problems_have_lines(tmp_path: Path) -> None:
    text = CATALOG.read_text().replace("kind: night", "kind: nite", 1)
    bad = write(tmp_path, "cat.yaml", text)
    line = text.splitlines().index(next(x for x in text.splitlines() if "kind: nite" in x)) + 1
    subs = write(tmp_path, "subs.yaml", HEAD + entry('"1"'))
    got = check_files(bad, subs)
    assert [(p.part, p.line, p.field) for p in got] == [("catalog", line, "pack N2G.kind")]
    assert "unknown pack kind 'nite'" in got[0].message


# -- 6. usage -----------------------------------------------------------------------------


def usage_line(msisdn: str, start: str = "2026-04-10T10:00:00+08:00", rid: str = "r") -> str:
    return (
        f'{{"record_id": "{rid}", "msisdn": "{msisdn}", "usage_type": "DATA", '
        f'"start_time": "{start}", "duration_s": 1, "uplink_bytes": 1, "downlink_bytes": 1, '
        '"app_id": null, "rating_group": null, "province": "GD", "rat": "LTE", '
        '"roaming": "HOME", "direction": null, "sequence": 0}\n'
    )


def test_usage_problems(tmp_path: Path) -> None:
    usage = (
        usage_line("1")
        + usage_line("777", rid="a")  # 2: unknown, first of two
        + "\n"
        + '{"record_id": "broken"}\n'  # 4
        + usage_line("777", rid="b")  # 5
        + usage_line("1", start="2027-01-01T00:00:00+08:00")  # 6: far in the future
    )
    got = lines(run(tmp_path, entry('"1"'), usage=usage))
    f = tmp_path / "usage.txt"
    assert got[0] == (
        f"{f}:2: msisdn: no subscriber 777 in {tmp_path / 'subs.yaml'}: 2 records "
        "(UNKNOWN_SUBSCRIBER), the first here"
    )
    assert got[1].startswith(f"{f}:4: record: not a usage record: DECODE_ERROR: ")
    assert got[2].startswith(f"{f}:6: record: FUTURE_TIMESTAMP: record r: start_time ")
    assert len(got) == 3


# -- 7. commands ----------------------------------------------------------------------------


def test_commands_problems(tmp_path: Path) -> None:
    t = '"time": "2026-04-01T00:00:00+08:00"'
    commands = (
        f'{{"type": "order", "command_id": "c1", "msisdn": "1", {t}, "product": "T1G"}}\n'
        f'{{"type": "order", "command_id": "c2", "msisdn": "9", {t}, "product": "ZZ"}}\n'
        "not json\n"
        f'{{"type": "change_plan", "command_id": "c3", "msisdn": "1", {t}, "plan": "N2G"}}\n'
        f'{{"type": "tick", {t}}}\n'
    )
    got = lines(run(tmp_path, entry('"1"'), commands=commands))
    f = tmp_path / "commands.txt"
    assert got[:2] == [
        f"{f}:2: msisdn: no subscriber 9 in {tmp_path / 'subs.yaml'} or before this line",
        f"{f}:2: product: unknown pack 'ZZ' "
        "(catalog 2026-11-example-1 packs: N2G, DMIGU6G, T1G, ME500M)",
    ]
    assert got[2].startswith(f"{f}:3: command: not JSON: ")
    assert got[3:] == [f"{f}:4: plan: N2G is a pack, not a plan (plans: P58, D5)"]


# -- the examples, formatting ------------------------------------------------------------


@pytest.mark.parametrize("catalog", ["catalog-basic.yaml", "catalog-full.yaml"])
def test_examples(catalog: str) -> None:
    subs = EXAMPLES / "subscribers-basic.yaml"
    assert check_files(EXAMPLES / catalog, subs, now_ms=NOW) == []
    got = check_files(EXAMPLES / catalog, subs, EXAMPLES / "usage-basic.jsonl", now_ms=NOW)
    usage = EXAMPLES / "usage-basic.jsonl"
    # what usage-basic.jsonl holds on purpose: an unknown subscriber and a broken line
    assert [(p.part, p.line, p.field) for p in got] == [
        ("usage", 18, "msisdn"),
        ("usage", 19, "record"),
    ]
    assert str(got[0]) == (
        f"{usage}:18: msisdn: no subscriber 13999999999 in {subs}: 1 record "
        "(UNKNOWN_SUBSCRIBER), the first here"
    )
    assert summary_line(got) == "2 problems (usage 2)"


def test_format() -> None:
    ps = [Problem("a.yaml", 3, "plan", "bad"), Problem("b.jsonl", 0, "", "cannot read", "usage")]
    assert format_problems(ps) == "a.yaml:3: plan: bad\nb.jsonl: cannot read"
    assert summary_line(ps) == "2 problems (subscribers 1, usage 1)"
    assert summary_line([]) == "no problems"
