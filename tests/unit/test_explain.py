"""`rater explain` and the charge events' `reason`: why a charge was what it was, from
`rater simulate`'s job on the example files."""

from __future__ import annotations

import io
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from rater.catalog import load_catalog
from rater.cli import app
from rater.codec.jsonl import event_from_json
from rater.core.cycles import to_ms
from rater.core.engine import Rater
from rater.core.events import ChargeEvent, ChargeKind, Draw, Event, Unit
from rater.core.inputs import UsageType
from rater.core.reasons import REASON_MAX, size_text
from rater.explain import explain, explain_charge, find
from rater.jobs.offline import rate_offline, read_usage
from rater.subscribers import load_subscribers, to_commands

EX = Path(__file__).resolve().parents[2] / "examples"
CATALOG = EX / "catalog-basic.yaml"


@pytest.fixture(scope="module")
def events_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cat = load_catalog(CATALOG)
    cmds = list(to_commands(load_subscribers(EX / "subscribers-basic.yaml")))
    out = io.BytesIO()
    rate_offline(
        Rater(cat),
        cmds,
        lambda: read_usage(EX / "usage-basic.jsonl"),
        to_ms("2026-05-01T00:00:00+08:00"),
        out,
    )
    path = tmp_path_factory.mktemp("explain") / "events.jsonl"
    path.write_bytes(out.getvalue())
    return path


@pytest.fixture(scope="module")
def events(events_file: Path) -> list[Event]:
    return [event_from_json(orjson.loads(x)) for x in events_file.read_bytes().splitlines()]


def _charge(events: list[Event], record_id: str) -> ChargeEvent:
    (e,) = [e for e in events if isinstance(e, ChargeEvent) and e.record_id == record_id]
    return e


def test_overage_reason_shows_the_arithmetic(events: list[Event]) -> None:
    e = _charge(events, "ex4-overage")
    assert e.fen == 44 and e.draws == ()
    assert "overage 1.5 MB at 29 fen/MB = ceil(1536 KB * 29 / 1024) = 44 fen" in e.reason


def test_draw_reason_names_the_buckets_in_order(events: list[Event]) -> None:
    night = _charge(events, "ex1-night")
    assert night.reason == "data 1 GB: 1 GB from N2G#3 (night pack)"
    shared = _charge(events, "member-1")
    assert [d.bucket_id for d in shared.draws] == ["D5.data#1", "P58.data#1"]
    assert shared.reason.index("D5.data#1") < shared.reason.index("P58.data#1 of 13800000003")
    assert _charge(events, "video").reason == "video 3 min; overage 3 min at 29 fen/min = 87 fen"
    assert _charge(events, "incoming").reason == "voice 10 min: incoming call, free"


def test_every_charge_has_a_bounded_reason(events: list[Event]) -> None:
    charges = [e for e in events if isinstance(e, ChargeEvent)]
    assert charges
    for e in charges:
        assert e.reason and len(e.reason) <= REASON_MAX, e.event_id


def test_fee_reasons_state_the_rule(events: list[Event]) -> None:
    fees = {e.event_id: e.reason for e in events if isinstance(e, ChargeEvent) and e.product}
    assert fees["fee:13800000002:2026-04-01:D5:d2"] == (
        "daily fee, day 2 of 30 (daily accrual): floor(500 * 2 / 30) = 33 fen due"
        " - 16 charged = 17 fen"
    )
    rest = fees["fee:13800000002:2026-04-01:D5:rest:D5.data#1"]
    assert rest.startswith(
        "allowance used up: rest of the cycle's fee, on exhaustion of D5.data#1 on day 20:"
    )
    assert rest.endswith("= 184 fen")
    assert fees["fee:13800000001:2026-05-01:P58"] == (
        "monthly fee, renewed for cycle 2026-05-01: 5800 fen"
    )
    assert fees["cmd-fee:T1G:load:13800000001:order0"] == "once fee at order: 1000 fen"


def test_reason_is_bounded_with_many_draws() -> None:
    from rater.core.reasons import data_reason

    class _Line:
        msisdn = "1"
        overage_bytes = 0
        overage_fen = 0

    class _Cat:
        packs: dict[str, object] = {}

    class _Rt:
        catalog = _Cat()

    draws = [Draw(f"X{'y' * 60}#{i}", "X", "2", 1 << 20) for i in range(50)]
    text = data_reason(_Rt(), _Line(), 50 << 20, draws, 0, 0, 0, 29, 0, "")  # type: ignore[arg-type]
    assert len(text) <= REASON_MAX
    assert "+46 more" in text or text.endswith("...")


def test_size_text() -> None:
    assert size_text(1 << 30) == "1 GB"
    assert size_text(1572864) == "1.5 MB"
    assert size_text(1023) == "1023 B"


def test_explain_overage_from_events(events: list[Event]) -> None:
    text, n = explain(iter(events), "ex4-overage", load_catalog(CATALOG))
    assert n == 1
    assert "ceil(1536 KB * 29 / 1024) = 44 fen" in text
    assert "charged: 44 fen" in text
    assert "catalog version: 2026-11-example-1" in text
    assert "plan P58" in text and "29 fen/MB" in text  # the catalog's prices


def test_explain_without_catalog_uses_the_reason(events: list[Event]) -> None:
    text, n = explain(iter(events), "charge:13800000001:2026-04-01:20558:ex4-overage")
    assert n == 1
    assert "overage arithmetic: ceil(1536 KB * 29 / 1024) = 44 fen" in text


def test_explain_night_draw(events: list[Event]) -> None:
    text, _ = explain(iter(events), "ex1-night")
    assert "draws, in consumption order:" in text
    assert "bucket N2G#3  product N2G  owner 13800000001  1024 MB" in text


def test_explain_cumulative_overage() -> None:
    def charge(rid: str, overage: int, fen: int) -> ChargeEvent:
        return ChargeEvent(
            f"charge:1:c:{rid}", "1", "1", 0, "c", "v", ChargeKind.USAGE, rid,
            UsageType.DATA, None, overage, Unit.BYTES, (), overage, 0, fen, "x at 29 fen/MB",
        )  # fmt: skip

    first, second = charge("a", 1000, 28), charge("b", 1000, 1)
    (m,) = find([first, second], "b")
    assert m.overage_before == 1000
    text = explain_charge(second, m.overage_before)
    # to date: ceil(2000/1024) = 2 KB -> ceil(2 * 29 / 1024) = 1 fen; before: 1 KB -> 1 fen
    assert "ceil(2 KB * 29 / 1024) = 1 fen to date - ceil(1 KB * 29 / 1024) = 1 fen before" in text


def test_explain_command(events_file: Path) -> None:
    r = CliRunner().invoke(
        app, ["explain", "ex4-overage", "--events", str(events_file), "--catalog", str(CATALOG)]
    )
    assert r.exit_code == 0, r.output
    assert "ceil(1536 KB * 29 / 1024) = 44 fen" in r.output
    fee = CliRunner().invoke(
        app, ["explain", "fee:13800000001:2026-05-01:P58", "--events", str(events_file)]
    )
    assert fee.exit_code == 0 and "monthly fee, renewed for cycle 2026-05-01" in fee.output
    missing = CliRunner().invoke(app, ["explain", "nope", "--events", str(events_file)])
    assert missing.exit_code == 1
    assert "no event" in missing.output


def test_explain_command_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type": "charge"}\n')
    r = CliRunner().invoke(app, ["explain", "x", "--events", str(bad)])
    assert r.exit_code == 2
    assert "bad.jsonl:1" in r.output
