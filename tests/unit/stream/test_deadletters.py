"""Dead-letter tools without a broker: ids, filters, the list line, the JSON summary,
`show`'s decoded payload or hex dump, the redrive record and what redrive refuses."""

from __future__ import annotations

import orjson
import pytest
from typer.testing import CliRunner

from rater.codec import avro
from rater.codec.deadletter import MIN_DEAD_LETTER_BYTES, dead_letter_for
from rater.config import Settings, Topics
from rater.core.cycles import to_ms
from rater.core.inputs import NewSubscriber, Roaming, UsageRecord, UsageType
from rater.stream import deadletters as dl
from rater.stream.deadletters import Filter, Letter

TOPICS = Topics(**{name: f"t.{name}" for name in Topics.model_fields})
S = Settings(topics=TOPICS, metrics_port=0)
T0 = to_ms("2026-04-10T10:00:00+08:00")


def _usage(rid: str, msisdn: str = "13900000001") -> UsageRecord:
    return UsageRecord(
        rid, msisdn, UsageType.DATA, T0, 60, 0, 1 << 20, None, None, "GD", "LTE",
        Roaming.HOME, None, 1,
    )  # fmt: skip


def _letter(
    dp: int,
    do: int,
    reason: str = "UNKNOWN_SUBSCRIBER",
    *,
    topic: str = TOPICS.usage,
    sp: int = 0,
    so: int = 0,
    ts: int = T0,
    payload: bytes | None = None,
    error: str = "no subscriber 13900000001",
    max_bytes: int = 900_000,
) -> Letter:
    body = avro.encode_usage(_usage(f"r-{dp}-{do}")) if payload is None else payload
    d = dead_letter_for(body, b"13900000001", topic, sp, so, (reason, error), ts,
                        max_bytes=max_bytes)  # fmt: skip
    return Letter(dp, do, d)


LETTERS = [
    _letter(0, 0, "UNKNOWN_SUBSCRIBER", sp=0, so=10, ts=T0),
    _letter(0, 1, "INVALID_VALUE", sp=1, so=11, ts=T0 + 1000),
    _letter(1, 0, "UNKNOWN_SUBSCRIBER", sp=1, so=12, ts=T0 + 2000),
    _letter(1, 1, "DECODE_ERROR", sp=2, so=13, ts=T0 + 3000, payload=b"\xff\x00garbage"),
    _letter(2, 0, "UNKNOWN_SUBSCRIBER", topic=TOPICS.commands, sp=0, so=3, ts=T0 + 4000),
]


def _ids(f: Filter) -> list[str]:
    return [x.id for x in dl.select(LETTERS, f)]


def test_ids_parse_and_refuse() -> None:
    assert dl.parse_id("3:17") == (3, 17)
    assert dl.parse_ids(["0:1,0:2", " 1:7 "]) == {(0, 1), (0, 2), (1, 7)}
    for bad in ["3", "a:1", "1:", "-1:2", "1:-2", ""]:
        with pytest.raises(ValueError, match="PARTITION:OFFSET"):
            dl.parse_id(bad)


def test_no_filter_selects_everything_in_dead_letter_order() -> None:
    assert Filter().everything
    assert _ids(Filter()) == ["0:0", "0:1", "1:0", "1:1", "2:0"]
    assert dl.select(reversed(LETTERS), Filter()) == LETTERS


def test_each_filter_and_their_conjunction() -> None:
    unknown = frozenset({"UNKNOWN_SUBSCRIBER"})
    assert _ids(Filter(reasons=unknown)) == ["0:0", "1:0", "2:0"]
    assert _ids(Filter(reasons=frozenset({"INVALID_VALUE", "DECODE_ERROR"}))) == ["0:1", "1:1"]
    assert _ids(Filter(source_partition=1)) == ["0:1", "1:0"]
    assert _ids(Filter(source_topic=TOPICS.commands)) == ["2:0"]
    # source offsets, both ends inclusive
    assert _ids(Filter(from_offset=11, to_offset=12)) == ["0:1", "1:0"]
    assert _ids(Filter(from_offset=13)) == ["1:1"]
    # times: since inclusive, until exclusive
    assert _ids(Filter(since_ms=T0 + 1000, until_ms=T0 + 3000)) == ["0:1", "1:0"]
    assert _ids(Filter(ids=frozenset({(1, 1), (2, 0), (9, 9)}))) == ["1:1", "2:0"]
    assert _ids(Filter(reasons=unknown, source_partition=1)) == ["1:0"]
    assert _ids(Filter(reasons=unknown, ids=frozenset({(0, 1), (1, 0)}))) == ["1:0"]
    assert _ids(Filter(reasons=frozenset({"FUTURE_TIMESTAMP"}))) == []


def test_list_line_and_json_summary() -> None:
    x = LETTERS[0]
    line = dl.format_line(x)
    assert line.startswith(
        "0:0  UNKNOWN_SUBSCRIBER  t.usage[0]@10  2026-04-10T02:00:00.000+00:00  "
    )
    assert f"{x.dead.payload_length} B  no subscriber 13900000001" in line
    assert "truncated" not in line and "[redriven]" not in line
    assert "[redriven]" in dl.format_line(x, redriven=True)
    js = dl.summary(x, redriven=True)
    assert js["id"] == "0:0" and js["source_offset"] == 10 and js["redriven"] is True
    assert js["time"] == "2026-04-10T02:00:00.000+00:00" and js["timestamp"] == T0
    assert js["payload_sha256"] == x.dead.payload_sha256 and js["key"] == "13900000001"
    assert orjson.loads(orjson.dumps(js)) == js


def test_list_line_cuts_the_error_at_100_chars_on_one_line() -> None:
    x = _letter(0, 5, error="line one\nline two " + "x" * 300)
    line = dl.format_line(x)
    assert "\n" not in line
    assert line.endswith("line one line two " + "x" * (100 - 18) + "...")


def test_a_truncated_letter_is_marked_and_refused_for_redrive() -> None:
    big = avro.encode_usage(_usage("big", "1" * 30)) + b"\x00" * (MIN_DEAD_LETTER_BYTES * 2)
    x = _letter(3, 0, payload=big, max_bytes=MIN_DEAD_LETTER_BYTES)
    assert x.dead.truncated
    assert " truncated " in dl.format_line(x) and dl.summary(x)["truncated"] is True
    why = dl.why_not(S, x, {TOPICS.usage: 4, TOPICS.commands: 4})
    assert why is not None and why.startswith("truncated") and "original is gone" in why
    assert dl.decode_payload(S, x) is None


def test_redrive_refuses_what_it_cannot_send_back() -> None:
    counts: dict[str, int | None] = {TOPICS.usage: 2, TOPICS.commands: 2}
    assert dl.why_not(S, LETTERS[0], counts) is None
    assert "not an input topic" in (dl.why_not(S, _letter(0, 9, topic="file:x"), counts) or "")
    assert "not one of the 2" in (dl.why_not(S, _letter(0, 9, sp=2), counts) or "")
    missing: dict[str, int | None] = {TOPICS.usage: None, TOPICS.commands: 2}
    assert "does not exist" in (dl.why_not(S, LETTERS[0], missing) or "")


def test_show_decodes_usage_and_commands_and_dumps_the_rest() -> None:
    usage = dl.describe(S, LETTERS[0])
    assert usage["decoded"]["type"] == "usage" and usage["decoded"]["record_id"] == "r-0-0"
    assert usage["sha256_matches"] is True and "payload_hex" not in usage
    cmd = NewSubscriber("c-1", "13900000001", T0, "P58", 1, "GD")
    c = _letter(2, 1, topic=TOPICS.commands, payload=avro.encode_command(cmd))
    assert dl.describe(S, c)["decoded"]["type"] == "new_subscriber"
    garbage = dl.describe(S, LETTERS[3])
    assert "decoded" not in garbage and garbage["payload_hex"] == b"\xff\x00garbage".hex()
    text = dl.format_detail(S, LETTERS[3])
    assert "not decodable" in text and "00000000  ff 00 67 61" in text and "|..garbage|" in text
    shown = dl.format_detail(S, LETTERS[0], {"redriven_at": "T", "sent": {"topic": "u"}})
    assert '"record_id": "r-0-0"' in shown and "redriven" in shown


def test_hex_dump_stops_at_256_bytes() -> None:
    dump = dl.hex_dump(bytes(range(256)) * 2)
    lines = dump.splitlines()
    assert len(lines) == 17 and lines[-1] == "... (256 more bytes)"
    assert lines[1].startswith("00000010  10 11 12")


def test_redrive_record_names_both_ends_and_the_payload() -> None:
    x = LETTERS[2]
    rec = dl.redrive_record(S, dl.Sent(x, TOPICS.usage, 1, 42), T0)
    assert rec["dead_letter"] == {"topic": TOPICS.dead_letter, "partition": 1, "offset": 0}
    assert rec["source"] == {
        "topic": TOPICS.usage,
        "partition": 1,
        "offset": 12,
        "timestamp": T0 + 2000,
    }
    assert rec["sent"] == {"topic": TOPICS.usage, "partition": 1, "offset": 42}
    assert rec["payload_sha256"] == x.dead.payload_sha256
    assert rec["redriven_at"] == "2026-04-10T02:00:00.000+00:00"
    assert dl.redrive_topic(S) == "t.dead_letter.redriven"


def test_redrive_wants_a_choice() -> None:
    with pytest.raises(ValueError, match="choose"):
        dl.redrive(S, Filter())
    res = CliRunner().invoke(dl.deadletters_app, ["redrive"])
    assert res.exit_code == 2 and "--all" in res.output


def test_cli_refuses_times_without_offset_and_bad_ids() -> None:
    runner = CliRunner()
    res = runner.invoke(dl.deadletters_app, ["list", "--since", "2026-04-10T10:00:00"])
    assert res.exit_code == 2 and "UTC offset" in res.output
    res = runner.invoke(dl.deadletters_app, ["redrive", "--ids", "0:1,x"])
    assert res.exit_code == 2 and "PARTITION:OFFSET" in res.output
    res = runner.invoke(dl.deadletters_app, ["show", "nope"])
    assert res.exit_code == 2
