"""A tick over more due accounts than a batch takes (`tick_accounts_per_batch`): it is
applied to the earliest due accounts batch after batch, what follows it waits, the
watermark stays on the tick until it is done, and the events and state are those of one
unbounded tick."""

from __future__ import annotations

from collections import Counter

from rater.codec import avro
from rater.core.cycles import to_ms
from rater.core.engine import Rater
from rater.core.inputs import NewSubscriber, Tick, UsageRecord
from rater.pipeline.batch import BatchRater
from rater.pipeline.messages import InMessage
from rater.pipeline.partition import PartitionRun
from rater.store.memory import MemoryStore
from tests.unit.core.helpers import example_catalog
from tests.unit.stream.test_batch import T, record

ACTIVATED = to_ms("2026-04-01T00:00:00+08:00")
TICK = to_ms("2026-05-03T00:00:00+08:00")  # a new cycle for P58, a month of days for D5
NOW = to_ms("2026-05-04T00:00:00+08:00")  # the records are not in the future
LINES = [f"138000010{i:02d}" for i in range(9)]
LAST = LINES[-1]


def _records() -> list[UsageRecord]:
    return [
        record("before", LAST, "2026-05-02T12:00:00+08:00", 1 << 20),
        record("after", LAST, "2026-05-03T09:00:00+08:00", 1 << 20),
    ]


def _inputs() -> list[InMessage]:
    """Nine activations, a record before the tick, the tick, a record after it."""
    msgs = [
        InMessage(
            T.commands,
            0,
            i,
            m.encode(),
            avro.encode_command(
                NewSubscriber(f"new:{m}", m, ACTIVATED, "D5" if i % 2 else "P58", 1, "GD")
            ),
            NOW,
        )
        for i, m in enumerate(LINES)
    ]
    msgs.append(InMessage(T.commands, 0, len(LINES), None, avro.encode_command(Tick(TICK)), NOW))
    for offset, rec in enumerate(_records()):
        msgs.append(InMessage(T.usage, 0, offset, LAST.encode(), avro.encode_usage(rec), NOW))
    return msgs


class Batch:
    """What one batch did: the watermark after it, its outputs, the accounts it ticked
    and the records it rated."""

    def __init__(
        self, watermark: dict[str, int], values: list[bytes], ticked: set[str], rated: list[str]
    ) -> None:
        self.watermark, self.values, self.ticked, self.rated = watermark, values, ticked, rated


def _run(tick_accounts: int) -> tuple[list[Batch], MemoryStore]:
    """The activations in one batch; then the rest pushed at once, and batches until
    nothing is left."""
    store = MemoryStore()
    batch = BatchRater(
        Rater(example_catalog()), T, 86_400_000, now_ms=lambda: NOW, tick_accounts=tick_accounts
    )
    run = PartitionRun(0, store.claim(0), {})
    activations, later = _inputs()[: len(LINES)], _inputs()[len(LINES) :]
    run.push(batch, activations, T.usage, NOW)
    first = run.prepare(batch, store, usage_done=True, commands_done=True)
    assert first is not None
    run.committed(first, store.commit(0, first.commit))
    run.push(batch, later, T.usage, NOW)
    batches: list[Batch] = []
    done: set[str] = set()
    while (prepared := run.prepare(batch, store, usage_done=True, commands_done=True)) is not None:
        run.committed(prepared, store.commit(0, prepared.commit))
        res = prepared.result
        ticked = {k for k, a in res.accounts.items() if a.next_due > TICK} - done
        done |= ticked
        rated = [a.record_id for a in _records() if a.start_time in res.event_times]
        values = [m.value for m in res.out]
        batches.append(Batch(dict(run.watermark), values, ticked, rated))
        assert len(batches) < 50, "the tick never ends"
    return batches, store


def test_a_large_tick_goes_to_a_bounded_number_of_accounts_per_batch() -> None:
    batches, _ = _run(tick_accounts=2)
    # the first two due accounts and the line of the record before the tick (loaded for
    # it), then two a batch; the last batch finds no more than two due: the tick ends,
    # and the record after it is rated
    assert [len(b.ticked) for b in batches] == [3, 2, 2, 2]
    assert set().union(*(b.ticked for b in batches)) == set(LINES)
    for b in batches[:-1]:  # the watermark stays on the tick, and on the record after it
        assert b.watermark == {T.commands: len(LINES), T.usage: 1}
    assert batches[-1].watermark == {T.commands: len(LINES) + 1, T.usage: 2}
    assert "before" in batches[0].rated
    assert ["after" in b.rated for b in batches] == [False, False, False, True]


def test_a_bounded_tick_gives_the_events_and_state_of_one_whole_tick() -> None:
    bounded, bounded_store = _run(tick_accounts=2)
    whole, whole_store = _run(tick_accounts=1000)
    assert len(whole) == 1
    assert Counter(v for b in bounded for v in b.values) == Counter(whole[0].values)
    b, w = bounded_store.partitions[0], whole_store.partitions[0]
    assert (b.accounts, b.due, b.watermark, b.seen) == (w.accounts, w.due, w.watermark, w.seen)


def test_each_account_is_ticked_once_whatever_the_bound() -> None:
    for bound in (1, 3, 8, 9):
        batches, _ = _run(tick_accounts=bound)
        ticked = Counter(m for b in batches for m in b.ticked)
        assert set(ticked) == set(LINES) and max(ticked.values()) == 1, bound
