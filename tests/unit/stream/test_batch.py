"""A partition's batch without Kafka or Redis: decoding (plain and Confluent wire
format), dead letters, routing by account, ticks, outputs per topic. Inputs go the
stream's way: `BatchRater.arrive`, `Aligner.release`, `BatchRater.rate` over accounts in
a `MemoryStore`."""

from __future__ import annotations

from collections.abc import Iterable

from rater.codec import avro
from rater.codec.codecs import WireCodecs, wire_codecs
from rater.codec.wire import RegistryError, unframe
from rater.config import Settings
from rater.core.cycles import DAY_MS, to_ms
from rater.core.duplicates import record_key
from rater.core.engine import Rater
from rater.core.events import ChargeEvent
from rater.core.inputs import Roaming, Tick, UsageRecord, UsageType
from rater.core.state import Account
from rater.pipeline.align import Aligner, Arrival
from rater.pipeline.batch import BatchRater, BatchResult
from rater.pipeline.messages import InMessage
from rater.pipeline.partition import PartitionRun
from rater.routing import account_key
from rater.store.base import PartitionCommit, SeenChange, SeenKeys
from rater.store.memory import MemoryStore
from rater.subscribers import parse_subscribers, to_commands
from tests.unit.core.helpers import example_catalog

SETTINGS = Settings(metrics_port=0)
T = SETTINGS.topics
NOW = to_ms("2026-04-20T00:00:00+08:00")
A, B, M = "13800000001", "13900000002", "13800000004"  # B has no subscriber


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


SUBSCRIBER_A = {
    "msisdn": A,
    "plan": "P58",
    "home_province": "GD",
    "activated": "2026-04-01T00:00:00+08:00",
}


def _subscribed(
    *entries: dict[str, str], store: MemoryStore | None = None
) -> tuple[Rater, MemoryStore]:
    """A rater, and a store whose partition 0 holds the subscribers (default: A on P58
    from 1 April), created by rating their commands through a `PartitionRun` as the
    stream does (keyed by account, as `rater load` puts them on the command topic): the
    store's command watermark is then past them."""
    rater = Rater(example_catalog())
    store = MemoryStore() if store is None else store
    run = PartitionRun(0, store.claim(0), store.watermark(0)[0])
    commands = to_commands(parse_subscribers({"subscribers": list(entries) or [SUBSCRIBER_A]}))
    msgs = [
        InMessage(T.commands, 0, i, account_key(c).encode(), avro.encode_command(c), c.time)
        for i, c in enumerate(commands)
    ]
    batch = BatchRater(rater, T, 86_400_000, now_ms=lambda: NOW)
    run.push(batch, msgs, T.usage, NOW)
    prepared = run.prepare(batch, store, usage_done=True, commands_done=True)
    assert prepared is not None and not prepared.result.dead
    run.committed(prepared, store.commit(0, prepared.commit))
    return rater, store


def _account(store: MemoryStore, key: str = A) -> Account:
    return store.load(0, [key])[key]


def _arrivals(br: BatchRater, msgs: Iterable[InMessage]) -> list[Arrival]:
    """Decode and check the messages, and release them in the aligner's order (both
    topics at their end)."""
    al = Aligner()
    for m in msgs:
        (al.usage if m.topic == T.usage else al.commands).append(br.arrive(m, NOW))
    out = al.release(usage_done=True, commands_done=True)
    assert al.held() == 0
    return out


def _batch(
    rater: Rater, store: MemoryStore, msgs: list[InMessage], codecs: WireCodecs | None = None
) -> BatchResult:
    kw = {"codecs": codecs} if codecs is not None else {}
    br = BatchRater(rater, T, 86_400_000, now_ms=lambda: NOW, **kw)  # type: ignore[arg-type]
    return br.rate(
        _arrivals(br, msgs),
        lambda keys: store.load(0, keys),
        lambda until, limit: store.due_keys(0, until, limit),
        lambda wanted: store.seen_among(0, wanted),
    )


def test_plain_avro_records_are_rated_and_garbage_dead_lettered_in_place() -> None:
    rater, store = _subscribed()
    good = avro.encode_usage(record("r1", A, "2026-04-10T12:00:00+08:00", 1024))
    msgs = [
        InMessage(T.usage, 0, 10, A.encode(), good, NOW),
        InMessage(T.usage, 0, 11, A.encode(), b"\xff\x00garbage", NOW),
        InMessage(
            T.usage,
            0,
            12,
            B.encode(),
            avro.encode_usage(record("r2", B, "2026-04-10T12:00:00+08:00", 1)),
            NOW,
        ),
    ]
    res = _batch(rater, store, msgs)
    charges = [_charge(m.value) for m in res.out if m.topic == T.charges]
    assert [c.record_id for c in charges] == ["r1"]
    dead = [avro.decode_dead_letter(m.value) for m in res.out if m.topic == T.dead_letter]
    assert [(d.source_offset, d.error_class) for d in dead] == [
        (11, "DECODE_ERROR"),
        (12, "UNKNOWN_SUBSCRIBER"),
    ]
    assert dead[0].payload == b"\xff\x00garbage"
    assert set(res.accounts) == {A}
    assert res.outcomes[(T.usage, "applied")] == 1
    assert res.outcomes[(T.usage, "dead_letter")] == 2


def test_garbage_waits_its_turn_only_behind_earlier_offsets_of_its_own_topic() -> None:
    """A message that cannot be decoded has no event time: the aligner lets it go as soon
    as it is at the head of its queue: before a command that is earlier than the usage
    behind it."""
    rater, _ = _subscribed()
    tick = avro.encode_command(Tick(to_ms("2026-04-10T11:00:00+08:00")))
    msgs = [
        InMessage(T.usage, 0, 0, A.encode(), b"\x01garbage", NOW),
        InMessage(
            T.usage,
            0,
            1,
            A.encode(),
            avro.encode_usage(record("r1", A, "2026-04-10T12:00:00+08:00", 1)),
            NOW,
        ),
        InMessage(T.commands, 0, 7, None, tick, NOW),
    ]
    br = BatchRater(rater, T, 86_400_000, now_ms=lambda: NOW)
    order = [(a.msg.topic, a.msg.offset) for a in _arrivals(br, msgs)]
    assert order == [(T.usage, 0), (T.commands, 7), (T.usage, 1)]


def test_wire_format_in_and_out_with_a_schema_registry() -> None:
    rater, store = _subscribed()
    registry = FakeRegistry()
    codecs = wire_codecs(SETTINGS, registry)
    framed = codecs.encode_usage(record("r1", A, "2026-04-10T12:00:00+08:00", 1024))
    sid, _ = unframe(framed)
    assert sid == registry.ids[f"{T.usage}-value"]
    unknown_id = b"\x00\x00\x00\x03\xe7" + framed[5:]  # schema id 999: not registered
    msgs = [
        InMessage(T.usage, 0, 0, A.encode(), framed, NOW),
        InMessage(T.usage, 0, 1, A.encode(), unknown_id, NOW),
    ]
    out = _batch(rater, store, msgs, codecs).out
    dead = [avro.decode_dead_letter(unframe(m.value)[1]) for m in out if m.topic == T.dead_letter]
    assert [(d.source_offset, d.error_class) for d in dead] == [(1, "SCHEMA_MISMATCH")]
    charge = next(m for m in out if m.topic == T.charges)
    cid, body = unframe(charge.value)
    assert cid == registry.ids[f"{T.charges}-value"]
    assert avro.decode_event("charge", body).record_id == "r1"  # type: ignore[union-attr]


def test_a_tick_reaches_accounts_with_a_change_due() -> None:
    rater, store = _subscribed()
    tick = avro.encode_command(Tick(to_ms("2026-05-01T00:00:00+08:00")))
    res = _batch(rater, store, [InMessage(T.commands, 0, 0, None, tick, NOW)])
    fees = [avro.decode_event("charge", m.value) for m in res.out if m.topic == T.charges]
    assert [(f.product, f.fen) for f in fees] == [("P58", 5800)]  # type: ignore[union-attr]
    assert res.accounts[A].lines[A].cycle_id == "2026-05-01"
    # a tick moves the clock, not the duplicate window (it ends at the latest record)
    assert A not in res.seen


def test_a_tick_leaves_accounts_with_nothing_due_alone() -> None:
    rater, store = _subscribed()
    due = _account(store).next_due
    tick = avro.encode_command(Tick(due - 1))
    res = _batch(rater, store, [InMessage(T.commands, 0, 0, None, tick, NOW)])
    assert res.out == [] and res.accounts == {}
    assert res.outcomes[(T.commands, "tick")] == 1


def test_a_key_that_is_not_utf8_is_dead_lettered_and_the_batch_goes_on() -> None:
    rater, store = _subscribed()
    rec = avro.encode_usage(record("r1", A, "2026-04-10T12:00:00+08:00", 1024))
    rec2 = avro.encode_usage(record("r2", A, "2026-04-10T12:01:00+08:00", 1024))
    msgs = [
        InMessage(T.usage, 0, 5, b"\xff\xfe", rec, NOW),
        InMessage(T.usage, 0, 6, A.encode(), rec2, NOW),
    ]
    out = _batch(rater, store, msgs).out
    dead = [avro.decode_dead_letter(m.value) for m in out if m.topic == T.dead_letter]
    assert [(d.source_offset, d.error_class, d.key) for d in dead] == [
        (5, "DECODE_ERROR", b"\xff\xfe")
    ]
    assert "not UTF-8" in dead[0].error and dead[0].payload == rec
    charges = [_charge(m.value) for m in out if m.topic == T.charges]
    assert [c.record_id for c in charges] == ["r2"]


def test_a_record_from_the_far_future_is_dead_lettered() -> None:
    rater, store = _subscribed()
    future = record("f1", A, "2026-04-22T00:00:00+08:00", 1)  # NOW + 2 days
    msgs = [InMessage(T.usage, 0, 0, A.encode(), avro.encode_usage(future), NOW)]
    dead = [
        avro.decode_dead_letter(m.value)
        for m in _batch(rater, store, msgs).out
        if m.topic == T.dead_letter
    ]
    assert [d.error_class for d in dead] == ["FUTURE_TIMESTAMP"]


def test_a_sharing_members_usage_is_rated_in_its_owners_account() -> None:
    member = {**SUBSCRIBER_A, "msisdn": M, "plan": "D5", "shares_with": A}
    rater, store = _subscribed(SUBSCRIBER_A, member)
    assert store.account_key(0, M) == A
    assert set(_account(store).lines) == {A, M}
    msg = avro.encode_usage(record("m1", M, "2026-04-10T12:00:00+08:00", 1024))
    res = _batch(rater, store, [InMessage(T.usage, 0, 0, A.encode(), msg, NOW)])  # keyed by owner
    assert set(res.accounts) == {A}
    charges = [_charge(m.value) for m in res.out if m.topic == T.charges]
    usage = [(c.record_id, c.msisdn, c.account) for c in charges if c.record_id]
    assert usage == [("m1", M, A)]


def test_metrics_move_by_what_the_committed_batch_emitted() -> None:
    from prometheus_client import REGISTRY

    from rater.core.events import ChargeEvent

    rater, store = _subscribed()
    msgs = [
        InMessage(
            T.usage,
            0,
            i,
            A.encode(),
            avro.encode_usage(record(f"m{i}", A, f"2026-04-1{i}T12:00:00+08:00", 30 << 30)),
            NOW,
        )
        for i in range(3)
    ] + [InMessage(T.usage, 0, 9, A.encode(), b"\x01garbage", NOW)]
    res = _batch(rater, store, msgs)

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
    """The stream asks the store about the batch's record keys per line and day (never
    loads a line's whole window): one it reports as seen is charged nothing, as is a
    repeat within the batch; the rest are charged, and the keys to add are the new ones."""
    from rater.core.events import ChargeEvent

    rater, store = _subscribed()
    wm, _ = store.watermark(0)
    day = to_ms("2026-04-10T12:00:00+08:00") // DAY_MS
    k = {rid: record_key(rid) for rid in ("r1", "r2", "r3", "old")}
    had = SeenChange({day: [k["r1"], k["old"]]}, [])
    store.commit(0, PartitionCommit(1, {}, {}, {}, b"", seen={A: had}))
    assert store.watermark(0)[0] == wm
    asked: list[dict[str, dict[int, list[int]]]] = []
    loaded: dict[str, Account] = {}

    def load(keys: set[str]) -> dict[str, Account]:
        found = store.load(0, keys)
        for acct in found.values():
            acct.lines[A].seen = {day: {99}}  # whatever was cached is replaced
        loaded.update(found)
        return found

    def seen(wanted: SeenKeys) -> dict[str, dict[int, set[int]]]:
        asked.append({m: {d: list(ks) for d, ks in days.items()} for m, days in wanted.items()})
        return store.seen_among(0, wanted)

    msgs = [
        InMessage(T.usage, 0, i, A.encode(), avro.encode_usage(record(rid, A, at, 1000)), NOW)
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
    res = br.rate(_arrivals(br, msgs), load, lambda t, limit: store.due_keys(0, t, limit), seen)
    assert asked == [{A: {day: [k["r1"], k["r2"], k["r2"], k["r3"]]}}]
    charged = [e.record_id for e in res.events if isinstance(e, ChargeEvent)]
    assert charged == ["r2", "r3"]
    added, _ = res.seen[A]
    assert {d: set(ks) for d, ks in added.items()} == {day: {k["r2"], k["r3"]}}
    assert loaded[A].lines[A].seen == {day: {k["r1"], k["r2"], k["r3"]}}
    assert res.outcomes[(T.usage, "duplicate")] == 2


def _charge(value: bytes) -> ChargeEvent:
    e = avro.decode_event("charge", value)
    assert isinstance(e, ChargeEvent)
    return e


def test_a_line_s_newer_record_drops_the_buckets_its_window_left() -> None:
    """The window ends at the line's latest record: a record three days on makes the
    batch drop the earlier day's bucket from the store (and only then)."""
    rater, store = _subscribed()
    br = BatchRater(rater, T, 86_400_000, now_ms=lambda: NOW)

    def batch(offset: int, rid: str, at: str) -> BatchResult:
        msg = InMessage(
            T.usage, 0, offset, A.encode(), avro.encode_usage(record(rid, A, at, 1)), NOW
        )
        res = br.rate(
            _arrivals(br, [msg]),
            lambda keys: store.load(0, keys),
            lambda t, limit: store.due_keys(0, t, limit),
            lambda wanted: store.seen_among(0, wanted),
        )
        store.commit(0, PartitionCommit(1, {}, res.accounts, {}, b"", seen=res.seen))
        return res

    first = "2026-04-10T12:00:00+08:00"
    day = to_ms(first) // DAY_MS
    batch(0, "r1", first)
    assert store.seen_among(0, {A: {day: [record_key("r1")]}}) == {A: {day: {record_key("r1")}}}
    assert day not in batch(1, "r2", "2026-04-11T12:00:00+08:00").seen[A].dropped  # 48 h
    later = batch(2, "r3", "2026-04-13T18:00:00+08:00")
    assert day in later.seen[A].dropped
    assert store.seen_among(0, {A: {day: [record_key("r1")]}}) == {}
