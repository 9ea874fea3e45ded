"""The in-memory account cache of an owned partition (`PartitionRun`) is bounded: past
`account_cache` accounts it starts over, and accounts are read from the store again.
Within the bound, a committed batch's accounts are served from the cache."""

from __future__ import annotations

from collections.abc import Iterable

from confluent_kafka import TopicPartition

from rater.codec import avro
from rater.config import Settings
from rater.core.engine import Rater
from rater.core.state import Account
from rater.pipeline.batch import BatchRater
from rater.pipeline.messages import InMessage
from rater.pipeline.partition import PartitionRun
from rater.store.memory import MemoryStore
from rater.stream.processor import StreamRater
from tests.unit.core.helpers import example_catalog
from tests.unit.stream.test_batch import NOW, A, B, T, _subscribed, record


class CountingStore(MemoryStore):
    """A MemoryStore that notes the keys each load asks for."""

    def __init__(self) -> None:
        super().__init__()
        self.loaded: list[str] = []

    def load(
        self, partition: int, keys: Iterable[str], cold: dict[str, bytes] | None = None
    ) -> dict[str, Account]:
        keys = sorted(keys)
        self.loaded += keys
        return super().load(partition, keys, cold)


def _run(cache_limit: int = 200_000) -> tuple[PartitionRun, CountingStore]:
    store = CountingStore()
    _subscribed(store=store)
    store.loaded.clear()
    wm, _ = store.watermark(0)
    return PartitionRun(0, store.claim(0), wm, cache_limit), store


def test_cached_accounts_are_not_read_again_within_the_bounds() -> None:
    run, store = _run()
    assert set(run.load(store, {A})) == {A}
    assert set(run.load(store, {A, B})) == {A}  # B: no such account
    assert store.loaded == [A, B]


def test_past_the_account_bound_the_cache_starts_over() -> None:
    run, store = _run(cache_limit=1)
    run.load(store, {A})
    run.load(store, {A, B})  # 2 > 1: the cache starts over
    run.load(store, {A})
    assert store.loaded == [A, B, A]


def test_a_committed_batch_is_served_from_the_cache() -> None:
    run, store = _run()
    batch = BatchRater(Rater(example_catalog()), T, 86_400_000, now_ms=lambda: NOW)
    rec = avro.encode_usage(record("r1", A, "2026-04-10T12:00:00+08:00", 1 << 20))
    run.push(batch, [InMessage(T.usage, 0, 0, A.encode(), rec, NOW)], T.usage, NOW)
    prepared = run.prepare(batch, store, usage_done=True, commands_done=True)
    assert prepared is not None
    run.committed(prepared, store.commit(0, prepared.commit))
    assert store.loaded == [A]
    cached = run.load(store, {A})[A]
    assert store.loaded == [A]  # not read again
    assert cached.lines[A].data_used == store.load(0, [A])[A].lines[A].data_used == 1 << 20


def test_the_service_bounds_each_owned_partition_by_account_cache() -> None:
    store = MemoryStore()
    rater, _ = _subscribed(store=store)
    svc = StreamRater(Settings(metrics_port=0, account_cache=7), rater, store)
    tps = [TopicPartition(t, n) for n in (0, 1) for t in T.inputs()]
    svc._on_assign(None, tps)  # type: ignore[arg-type]
    assert {n: run.cache_limit for n, run in svc.owned.items()} == {0: 7, 1: 7}
    assert svc.owned[0].watermark == store.watermark(0)[0] == {T.commands: 1}
    assert svc.owned[0].epoch == 2 and svc.owned[1].epoch == 1  # claimed: older fenced
