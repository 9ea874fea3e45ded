"""A partition's batch without Kafka or Redis: decoding (plain and Confluent wire
format), dead letters, routing by account, ticks, outputs per topic."""

from __future__ import annotations

from rater.codec import avro
from rater.codec.wire import RegistryError, unframe
from rater.config import Settings
from rater.core.cycles import to_ms
from rater.core.engine import Rater
from rater.core.inputs import Roaming, Tick, UsageRecord, UsageType
from rater.core.state import Account
from rater.stream.batch import BatchRater, InMessage
from rater.stream.codecs import wire_codecs
from rater.subscribers import parse_subscribers, to_commands
from tests.unit.core.helpers import example_catalog

SETTINGS = Settings(metrics_port=0)
T = SETTINGS.topics
NOW = to_ms("2026-04-20T00:00:00+08:00")


class FakeRegistry:
    """Registers schemas under subjects with increasing ids, like a registry would."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.schemas: dict[int, str] = {}

    def register(self, subject: str, schema: str) -> int:
        sid = self.ids.setdefault(subject, 100 + len(self.ids))
        self.schemas[sid] = schema
        return sid

    def get_schema(self, schema_id: int) -> str:
        if schema_id not in self.schemas:
            raise RegistryError(f"schema {schema_id} not found", status=404, error_code=40403)
        return self.schemas[schema_id]


def record(rid: str, msisdn: str, at: str, nbytes: int) -> UsageRecord:
    return UsageRecord(
        rid,
        msisdn,
        UsageType.DATA,
        to_ms(at),
        60,
        0,
        nbytes,
        None,
        None,
        "GD",
        "LTE",
        Roaming.HOME,
        None,
        0,
    )


def _subscribed() -> tuple[Rater, dict[str, Account]]:
    rater = Rater(example_catalog())
    accounts: dict[str, Account] = {}
    subs = parse_subscribers(
        {
            "subscribers": [
                {
                    "msisdn": "A",
                    "plan": "P58",
                    "home_province": "GD",
                    "activated": "2026-04-01T00:00:00+08:00",
                },
            ]
        }
    )
    for cmd in to_commands(subs):
        out = rater.apply(accounts.get("A"), cmd)
        assert out.account is not None
        accounts["A"] = out.account
    return rater, accounts


def _batch(
    rater: Rater, accounts: dict[str, Account], msgs: list[InMessage], codecs: object = None
) -> tuple[list, dict[str, Account]]:
    kw = {"codecs": codecs} if codecs is not None else {}
    br = BatchRater(rater, T, 86_400_000, now_ms=lambda: NOW, **kw)  # type: ignore[arg-type]
    res = br.rate(
        msgs,
        lambda keys: {k: accounts[k] for k in keys if k in accounts},
        lambda t: [k for k, a in accounts.items() if a.next_due <= t],
    )
    return res.out, res.accounts


def test_plain_avro_records_are_rated_and_garbage_dead_lettered_in_place() -> None:
    rater, accounts = _subscribed()
    good = avro.encode_usage(record("r1", "A", "2026-04-10T12:00:00+08:00", 1024))
    msgs = [
        InMessage(T.usage, 0, 10, b"A", good, NOW),
        InMessage(T.usage, 0, 11, b"A", b"\xff\x00garbage", NOW),
        InMessage(
            T.usage,
            0,
            12,
            b"B",
            avro.encode_usage(record("r2", "B", "2026-04-10T12:00:00+08:00", 1)),
            NOW,
        ),
    ]
    out, changed = _batch(rater, accounts, msgs)
    charges = [avro.decode_event("charge", m.value) for m in out if m.topic == T.charges]
    assert [c.record_id for c in charges] == ["r1"]
    dead = [avro.decode_dead_letter(m.value) for m in out if m.topic == T.dead_letter]
    assert [(d.source_offset, d.error_class) for d in dead] == [
        (11, "DECODE_ERROR"),
        (12, "UNKNOWN_SUBSCRIBER"),
    ]
    assert dead[0].payload == b"\xff\x00garbage"
    assert set(changed) == {"A"}


def test_wire_format_in_and_out_with_a_schema_registry() -> None:
    rater, accounts = _subscribed()
    registry = FakeRegistry()
    codecs = wire_codecs(SETTINGS, registry)
    framed = codecs.encode_usage(record("r1", "A", "2026-04-10T12:00:00+08:00", 1024))
    sid, _ = unframe(framed)
    assert sid == registry.ids[f"{T.usage}-value"]
    unknown_id = b"\x00\x00\x00\x03\xe7" + framed[5:]  # schema id 999: not registered
    msgs = [
        InMessage(T.usage, 0, 0, b"A", framed, NOW),
        InMessage(T.usage, 0, 1, b"A", unknown_id, NOW),
    ]
    out, _ = _batch(rater, accounts, msgs, codecs)
    dead = [avro.decode_dead_letter(unframe(m.value)[1]) for m in out if m.topic == T.dead_letter]
    assert [(d.source_offset, d.error_class) for d in dead] == [(1, "SCHEMA_MISMATCH")]
    charge = next(m for m in out if m.topic == T.charges)
    cid, body = unframe(charge.value)
    assert cid == registry.ids[f"{T.charges}-value"]
    assert avro.decode_event("charge", body).record_id == "r1"  # type: ignore[union-attr]


def test_a_tick_reaches_accounts_with_a_change_due() -> None:
    rater, accounts = _subscribed()
    tick = avro.encode_command(Tick(to_ms("2026-05-01T00:00:00+08:00")))
    out, changed = _batch(rater, accounts, [InMessage(T.commands, 0, 0, None, tick, NOW)])
    fees = [avro.decode_event("charge", m.value) for m in out if m.topic == T.charges]
    assert [(f.product, f.fen) for f in fees] == [("P58", 5800)]  # type: ignore[union-attr]
    assert changed["A"].lines["A"].cycle_id == "2026-05-01"


def test_a_key_that_is_not_utf8_is_dead_lettered_and_the_batch_goes_on() -> None:
    rater, accounts = _subscribed()
    rec = avro.encode_usage(record("r1", "A", "2026-04-10T12:00:00+08:00", 1024))
    rec2 = avro.encode_usage(record("r2", "A", "2026-04-10T12:01:00+08:00", 1024))
    msgs = [
        InMessage(T.usage, 0, 5, b"\xff\xfe", rec, NOW),
        InMessage(T.usage, 0, 6, b"A", rec2, NOW),
    ]
    out, _ = _batch(rater, accounts, msgs)
    dead = [avro.decode_dead_letter(m.value) for m in out if m.topic == T.dead_letter]
    assert [(d.source_offset, d.error_class, d.key) for d in dead] == [
        (5, "DECODE_ERROR", b"\xff\xfe")
    ]
    assert "not UTF-8" in dead[0].error and dead[0].payload == rec
    charges = [avro.decode_event("charge", m.value) for m in out if m.topic == T.charges]
    assert [c.record_id for c in charges] == ["r2"]


def test_metrics_move_by_what_the_committed_batch_emitted() -> None:
    from prometheus_client import REGISTRY

    from rater.core.events import ChargeEvent

    rater, accounts = _subscribed()
    msgs = [
        InMessage(
            T.usage,
            0,
            i,
            b"A",
            avro.encode_usage(record(f"m{i}", "A", f"2026-04-1{i}T12:00:00+08:00", 30 << 30)),
            NOW,
        )
        for i in range(3)
    ] + [InMessage(T.usage, 0, 9, b"A", b"\x01garbage", NOW)]
    br = BatchRater(rater, T, 86_400_000, now_ms=lambda: NOW)
    res = br.rate(msgs, lambda keys: {k: accounts[k] for k in keys if k in accounts}, lambda t: [])

    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    charges = [e for e in res.events if isinstance(e, ChargeEvent)]
    kinds = {e.kind for e in charges}
    before = {k: sample("rater_fen_total", kind=k) for k in kinds}
    n_before = sample("rater_events_total", type="charge")
    dl_before = sample("rater_dead_letters_total", reason="DECODE_ERROR")
    res.count_metrics()
    assert sample("rater_events_total", type="charge") - n_before == len(charges) >= 3
    for k in kinds:
        want = sum(e.fen for e in charges if e.kind == k)
        assert sample("rater_fen_total", kind=k) - before[k] == want
    assert sample("rater_dead_letters_total", reason="DECODE_ERROR") - dl_before == 1


def test_record_ids_the_store_has_seen_are_duplicates_and_only_the_batch_is_asked() -> None:
    """The stream asks the store about the batch's record ids per line (never loads a
    whole cycle's ids): one it reports as seen is charged nothing, as is a repeat within
    the batch; the rest are charged, and the ids to add are the new ones."""
    from rater.core.events import ChargeEvent

    rater, accounts = _subscribed()
    accounts["A"].lines["A"].seen = {"stale"}  # whatever was cached is replaced
    asked: list[dict[str, list[str]]] = []

    def seen(wanted: dict[str, list[str]]) -> dict[str, set[str]]:
        asked.append({k: list(v) for k, v in wanted.items()})
        return {"A": {"r1"}} if "A" in wanted else {}

    msgs = [
        InMessage(T.usage, 0, i, b"A", avro.encode_usage(record(rid, "A", at, 1000)), NOW)
        for i, (rid, at) in enumerate(
            [
                ("r1", "2026-04-10T12:00:00+08:00"),
                ("r2", "2026-04-10T12:01:00+08:00"),
                ("r2", "2026-04-10T12:02:00+08:00"),
                ("r3", "2026-04-10T12:03:00+08:00"),
            ]
        )
    ]
    br = BatchRater(rater, T, 86_400_000, now_ms=lambda: NOW)
    res = br.rate(
        msgs, lambda keys: {k: accounts[k] for k in keys if k in accounts}, lambda t: [], seen
    )
    assert asked == [{"A": ["r1", "r2", "r2", "r3"]}]
    charged = [e.record_id for e in res.events if isinstance(e, ChargeEvent)]
    assert charged == ["r2", "r3"]
    assert res.seen["A"] == (False, ["r2", "r3"])
    assert accounts["A"].lines["A"].seen == {"r1", "r2", "r3"}
