"""One partition as every job drives it (`PartitionRun`): push, prepare, committed. The
watermark moves to the first input still held (or past what the consumer passed), the
commit says where the batch started, messages below the watermark are not applied
again, and nothing is written when nothing moved."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from rater.codec import avro
from rater.core.cycles import to_ms
from rater.core.engine import Rater
from rater.core.events import ChargeEvent
from rater.core.inputs import NewSubscriber, Tick
from rater.core.state import Account
from rater.pipeline.batch import BatchRater
from rater.pipeline.messages import InMessage
from rater.pipeline.partition import PartitionRun
from rater.store.base import Fenced, PartitionCommit, WatermarkMismatch
from rater.store.memory import MemoryStore
from rater.store.outbox import unpack_messages
from tests.unit.core.helpers import example_catalog
from tests.unit.stream.test_batch import NOW, A, T, record

ACTIVATED = to_ms("2026-04-01T00:00:00+08:00")


def usage(offset: int, rid: str, at: str) -> InMessage:
    return InMessage(
        T.usage, 0, offset, A.encode(), avro.encode_usage(record(rid, A, at, 1 << 20)), NOW
    )


def command(offset: int, cmd: NewSubscriber | Tick) -> InMessage:
    key = None if isinstance(cmd, Tick) else cmd.msisdn.encode()
    return InMessage(T.commands, 0, offset, key, avro.encode_command(cmd), NOW)


NEW_A = NewSubscriber("new:A", A, ACTIVATED, "P58", 1, "GD")


@pytest.fixture
def batch() -> BatchRater:
    return BatchRater(Rater(example_catalog()), T, 86_400_000, now_ms=lambda: NOW)


def _step(
    run: PartitionRun,
    batch: BatchRater,
    store: MemoryStore,
    usage_done: bool = True,
    commands_done: bool = True,
) -> list[str]:
    """prepare + store commit + committed; the record ids charged (None: nothing to do)."""
    prepared = run.prepare(batch, store, usage_done, commands_done)
    if prepared is None:
        return ["nothing"]
    run.committed(prepared, store.commit(run.n, prepared.commit))
    return [
        e.record_id
        for e in prepared.result.events
        if isinstance(e, ChargeEvent) and e.record_id is not None
    ]


def test_usage_and_commands_are_applied_by_time_and_the_watermark_follows(
    batch: BatchRater,
) -> None:
    store = MemoryStore()
    run = PartitionRun(0, store.claim(0), {})
    # usage arrives first, before the command that creates its line
    run.push(batch, [usage(0, "r1", "2026-04-10T12:00:00+08:00")], T.usage, NOW)
    assert _step(run, batch, store, commands_done=False) == ["nothing"]  # held
    assert run.watermark == {}
    run.push(batch, [command(0, NEW_A)], T.usage, NOW)
    assert _step(run, batch, store) == ["r1"]
    assert run.watermark == store.watermark(0)[0] == {T.usage: 1, T.commands: 1}
    assert store.account_key(0, A) == A
    # nothing new: nothing to write
    assert run.prepare(batch, store, True, True) is None


def test_the_watermark_stops_at_the_first_held_input(batch: BatchRater) -> None:
    store = MemoryStore()
    run = PartitionRun(0, store.claim(0), {})
    run.push(batch, [command(0, NEW_A)], T.usage, NOW)
    run.push(
        batch,
        [
            usage(0, "r1", "2026-04-10T12:00:00+08:00"),
            usage(1, "r2", "2026-04-11T12:00:00+08:00"),
        ],
        T.usage,
        NOW,
    )
    run.push(batch, [command(1, Tick(to_ms("2026-04-10T18:00:00+08:00")))], T.usage, NOW)
    # usage is not done: r2 (after the tick) may still have commands before it
    assert _step(run, batch, store, usage_done=False, commands_done=False) == ["r1"]
    assert run.aligner.first_held() == {T.usage: 1}
    assert run.watermark == {T.commands: 2, T.usage: 1}
    assert _step(run, batch, store, usage_done=False, commands_done=True) == ["r2"]
    assert run.watermark == {T.commands: 2, T.usage: 2}


def test_the_commit_says_where_the_batch_started(batch: BatchRater) -> None:
    store = MemoryStore()
    run = PartitionRun(0, store.claim(0), {})
    run.push(batch, [command(0, NEW_A)], T.usage, NOW)
    _step(run, batch, store)
    run.push(batch, [usage(0, "r1", "2026-04-10T12:00:00+08:00")], T.usage, NOW)
    prepared = run.prepare(batch, store, True, True)
    assert prepared is not None
    # only the topics that moved, as (expected, new)
    assert dict(prepared.commit.watermark) == {T.usage: (0, 1)}
    assert prepared.commit.epoch == run.epoch and prepared.applied == 1
    assert unpack_messages(prepared.commit.out) == prepared.result.out
    assert set(prepared.commit.accounts) == {A}
    assert run.watermark == {T.commands: 1}  # not before the store has it
    run.committed(prepared, store.commit(0, prepared.commit))
    assert run.watermark == {T.commands: 1, T.usage: 1}
    assert store.watermark(0) == ({T.commands: 1, T.usage: 1}, prepared.commit.out)


def test_messages_below_the_watermark_are_not_applied_again(batch: BatchRater) -> None:
    """After a crash between the store commit and Kafka's, the consumer delivers the
    batch again: recovery re-emits its stored outputs, the run skips it."""
    store = MemoryStore()
    run = PartitionRun(0, store.claim(0), {})
    run.push(batch, [command(0, NEW_A), usage(0, "r1", "2026-04-10T12:00:00+08:00")], T.usage, NOW)
    assert _step(run, batch, store) == ["r1"]
    again = PartitionRun(0, store.claim(0), store.watermark(0)[0])
    msgs = [
        command(0, NEW_A),
        usage(0, "r1", "2026-04-10T12:00:00+08:00"),
        usage(1, "r2", "2026-04-10T13:00:00+08:00"),
    ]
    again.push(batch, msgs, T.usage, NOW)
    assert again.aligner.held() == 1
    assert _step(again, batch, store) == ["r2"]


def test_passed_moves_the_watermark_past_what_is_never_delivered(batch: BatchRater) -> None:
    store = MemoryStore()
    run = PartitionRun(0, store.claim(0), {T.usage: 3})
    run.passed(T.usage, -1001)  # no position yet: nothing
    run.passed(T.usage, 2)  # behind the watermark: nothing
    assert run.prepare(batch, store, True, True) is None
    run.passed(T.usage, 4)  # a transaction marker at 3
    prepared = run.prepare(batch, store, True, True)
    assert prepared is not None and prepared.applied == 0
    assert dict(prepared.commit.watermark) == {T.usage: (3, 4)}
    assert unpack_messages(prepared.commit.out) == []


def test_a_store_that_refuses_the_commit_leaves_the_run_where_it_was(batch: BatchRater) -> None:
    store = MemoryStore()
    run = PartitionRun(0, store.claim(0), {})
    run.push(batch, [command(0, NEW_A)], T.usage, NOW)
    prepared = run.prepare(batch, store, True, True)
    assert prepared is not None
    store.claim(0)  # a newer owner
    with pytest.raises(Fenced):
        store.commit(0, prepared.commit)
    assert run.watermark == {} and store.watermark(0) == ({}, None)
    # an owner that starts from a stale watermark is refused as well
    stale = PartitionRun(0, store.claim(0), {})
    store.commit(0, _prepared(stale, batch, store))  # moves the store's watermark
    late = PartitionRun(0, stale.epoch, {})
    with pytest.raises(WatermarkMismatch):
        store.commit(0, _prepared(late, batch, store))


def _prepared(run: PartitionRun, batch: BatchRater, store: MemoryStore) -> PartitionCommit:
    """The commit of a batch that creates subscriber A."""
    run.push(batch, [command(0, NEW_A)], T.usage, NOW)
    p = run.prepare(batch, store, True, True)
    assert p is not None
    return p.commit


class _CountingStore(MemoryStore):
    """A store that counts the accounts each load asks it for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[list[str]] = []

    def load(
        self, partition: int, keys: Iterable[str], cold: dict[str, bytes] | None = None
    ) -> dict[str, Account]:
        wanted = list(keys)
        self.asked.append(sorted(wanted))
        return super().load(partition, wanted, cold)


def test_the_account_cache_evicts_the_least_recently_used_never_all_of_it() -> None:
    """Bounded (`account_cache`), and a full cache still serves the accounts in use: the
    next batch does not read everything from the store again."""
    rater, store = Rater(example_catalog()), _CountingStore()
    names = [f"1380000{i:04d}" for i in range(40)]
    epoch = store.claim(0)
    accounts: dict[str, Account] = {}
    for m in names:
        out = rater.apply(None, NewSubscriber(f"new:{m}", m, ACTIVATED, "P58", 1, "GD"))
        assert out.account is not None
        accounts[m] = out.account
    store.commit(0, PartitionCommit(epoch, {}, accounts, {m: m for m in names}, b""))
    run = PartitionRun(0, epoch, {}, cache_limit=32)
    for m in names[:30]:
        run.load(store, {m})  # one by one: a known order of use
    hot = set(names[:4])
    for _ in range(3):
        run.load(store, hot)  # used again: the most recent
    store.asked.clear()
    run.load(store, set(names[30:40]))  # 10 more: past the limit of 32
    assert store.asked == [sorted(names[30:40])]  # only the misses were read
    assert len(run.accounts) <= 32
    assert hot <= set(run.accounts)  # the ones in use stayed
    assert set(names[30:40]) <= set(run.accounts)
    assert not set(names[4:6]) & set(run.accounts)  # the least recently used went first
    store.asked.clear()
    run.load(store, hot | set(names[30:40]))
    assert store.asked == []  # all from the cache
