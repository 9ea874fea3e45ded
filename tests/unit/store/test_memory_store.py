"""MemoryStore honours the Store contract (rater/store/base.py): a commit is all or
nothing and refused when fenced or off its watermark; an isolated store keeps what was
committed, not the objects a batch goes on changing; the duplicate sets, due times and
directory per partition. And the batch transaction's checked statuses."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from rater.core.cycles import to_ms
from rater.core.engine import Rater
from rater.core.inputs import NewSubscriber
from rater.core.state import Account
from rater.store.base import (
    BatchTxn,
    Fenced,
    InvalidTransition,
    PartitionCommit,
    SeenChange,
    TxnStatus,
    WatermarkMismatch,
)
from rater.store.memory import MemoryStore
from tests.unit.core.helpers import example_catalog

AT = to_ms("2026-04-01T00:00:00+08:00")
D = 20544  # a UTC day: the bucket of a line's record keys
U, C = "rater.usage", "rater.commands"


def account(msisdn: str = "A", *members: str) -> Account:
    rater = Rater(example_catalog())
    acct = rater.apply(None, NewSubscriber(f"new:{msisdn}", msisdn, AT, "P58", 1, "GD")).account
    assert acct is not None
    for m in members:
        out = rater.apply(acct, NewSubscriber(f"new:{m}", m, AT, "D5", 1, "GD", owner=msisdn))
        assert out.account is acct
    return acct


def commit(
    epoch: int,
    watermark: Mapping[str, tuple[int, int]] | None = None,
    accounts: Mapping[str, Account] | None = None,
    directory: Mapping[str, str] | None = None,
    out: bytes = b"out",
    seen: Mapping[str, SeenChange] | None = None,
) -> PartitionCommit:
    return PartitionCommit(
        epoch=epoch,
        watermark=watermark or {},
        accounts=accounts or {},
        directory=directory or {},
        out=out,
        seen=seen or {},
    )


def snapshot(store: MemoryStore, n: int) -> tuple[object, ...]:
    """What a reader of partition `n` can see."""
    p = store.partitions.get(n)
    accounts = {k: a.to_dict() for k, a in store.load(n, list(p.accounts)).items()} if p else {}
    return (
        store.watermark(n),
        accounts,
        store.due_keys(n, 1 << 62),
        dict(p.directory) if p else {},
        {k: {d: set(ks) for d, ks in v.items()} for k, v in p.seen.items()} if p else {},
    )


# -- commit: all or nothing --------------------------------------------------------------


def test_claim_gives_a_new_epoch_per_partition() -> None:
    store = MemoryStore()
    assert [store.claim(0), store.claim(0), store.claim(1)] == [1, 2, 1]


def test_a_commit_lands_whole() -> None:
    store = MemoryStore()
    epoch = store.claim(0)
    acct = account("A", "B")
    store.commit(
        0,
        commit(
            epoch,
            {U: (0, 3), C: (0, 2)},
            {"A": acct},
            {"A": "A", "B": "A"},
            b"blob",
            {"A": SeenChange({D: [1]}, [])},
        ),
    )
    assert store.watermark(0) == ({U: 3, C: 2}, b"blob")
    got = store.load(0, ["A", "nobody"])
    assert set(got) == {"A"}
    assert got["A"].to_dict(with_seen=False) == acct.to_dict(with_seen=False)
    assert store.account_key(0, "B") == "A"
    assert store.seen_among(0, {"A": {D: [1, 2]}}) == {"A": {D: {1}}}
    assert store.commits == 1
    # the next batch starts where this one ended
    store.commit(0, commit(epoch, {U: (3, 5)}))
    assert store.watermark(0) == ({U: 5, C: 2}, b"out")


def test_a_commit_after_a_newer_claim_is_fenced_and_leaves_nothing() -> None:
    store = MemoryStore()
    old = store.claim(0)
    store.commit(0, commit(old, {U: (0, 1)}, {"A": account("A")}, {"A": "A"}))
    before = snapshot(store, 0)
    new = store.claim(0)  # another owner took the partition over
    assert new > old
    late = commit(
        old, {U: (1, 9)}, {"Z": account("Z")}, {"Z": "Z"}, b"late", {"Z": SeenChange({D: [1]}, [])}
    )
    with pytest.raises(Fenced):
        store.commit(0, late)
    assert snapshot(store, 0) == before
    assert store.load(0, ["Z"]) == {} and store.account_key(0, "Z") is None
    assert store.commits == 1
    # the new owner writes from the same watermark
    store.commit(0, commit(new, {U: (1, 2)}))
    assert store.watermark(0)[0] == {U: 2}


@pytest.mark.parametrize(
    "watermark",
    [
        {U: (0, 9)},  # behind: this batch was applied already
        {U: (2, 9)},  # ahead
        {U: (1, 9), C: (3, 4)},  # one topic right, the other wrong
        {C: (3, 4), U: (1, 9)},  # the same, the wrong one first
    ],
)
def test_a_commit_off_the_watermark_is_refused_and_leaves_nothing(
    watermark: dict[str, tuple[int, int]],
) -> None:
    store = MemoryStore()
    epoch = store.claim(0)
    store.commit(0, commit(epoch, {U: (0, 1)}, {"A": account("A")}, {"A": "A"}))
    before = snapshot(store, 0)
    bad = commit(
        epoch, watermark, {"Z": account("Z")}, {"Z": "Z"}, b"bad", {"A": SeenChange({}, [D])}
    )
    with pytest.raises(WatermarkMismatch, match="WATERMARK"):
        store.commit(0, bad)
    assert snapshot(store, 0) == before
    assert store.commits == 1


def test_partitions_are_separate() -> None:
    store = MemoryStore()
    e0, e1 = store.claim(0), store.claim(1)
    store.commit(0, commit(e0, {U: (0, 4)}, {"A": account("A")}, {"A": "A"}))
    store.commit(1, commit(e1, {U: (0, 7)}, {"B": account("B")}, {"B": "B"}))
    assert store.watermark(0)[0] == {U: 4} and store.watermark(1)[0] == {U: 7}
    assert set(store.load(0, ["A", "B"])) == {"A"}
    assert store.account_key(1, "A") is None and store.account_key(1, "B") == "B"
    assert store.directory() == {"A": "A", "B": "B"}
    with pytest.raises(Fenced):  # epochs are per partition too
        store.commit(1, commit(e1 + 1, {U: (7, 8)}))


def test_watermark_is_a_copy() -> None:
    store = MemoryStore()
    store.commit(0, commit(store.claim(0), {U: (0, 1)}))
    wm, _ = store.watermark(0)
    wm[U] = 99
    assert store.watermark(0)[0] == {U: 1}
    assert MemoryStore().watermark(5) == ({}, None)  # never written: start at 0


# -- isolation -----------------------------------------------------------------------------


def test_isolated_a_loaded_account_changed_without_a_commit_is_not_stored() -> None:
    store = MemoryStore()
    acct = account("A")
    store.commit(0, commit(store.claim(0), accounts={"A": acct}))
    stored = acct.to_dict(with_seen=False)
    acct.lines["A"].data_used += 1  # the committed object, changed afterwards
    loaded = store.load(0, ["A"])["A"]
    assert loaded.to_dict(with_seen=False) == stored
    loaded.lines["A"].data_used += 5  # a batch that fails half-way
    loaded.lines["A"].buckets.clear()
    loaded.clock += 1
    assert store.load(0, ["A"])["A"].to_dict(with_seen=False) == stored
    assert store.load(0, ["A"])["A"] is not store.load(0, ["A"])["A"]


def test_not_isolated_keeps_the_objects_with_their_duplicate_buckets() -> None:
    store = MemoryStore(isolated=False)
    assert store.seen_in_lines and not MemoryStore().seen_in_lines
    acct = account("A")
    acct.lines["A"].seen = {D: {1}}
    store.commit(
        0,
        commit(
            store.claim(0),
            accounts={"A": acct},
            directory={"A": "A"},
            seen={"A": SeenChange({D: [1]}, [])},
        ),
    )
    loaded = store.load(0, ["A"])["A"]
    assert loaded is acct
    assert loaded.lines["A"].seen == {D: {1}}  # the line's own: a batch asks nothing
    assert store.partitions[0].seen == {}  # kept once, in the line
    assert store.seen_among(0, {"A": {D: [1, 2]}, "Z": {D: [1]}}) == {"A": {D: {1}}}
    assert store.accounts()["A"].lines["A"].seen == {D: {1}}


def test_accounts_reads_a_run_back_with_the_seen_sets() -> None:
    store = MemoryStore()
    store.commit(
        0,
        commit(
            store.claim(0), accounts={"A": account("A", "B")}, seen={"B": SeenChange({D: [9]}, [])}
        ),
    )
    store.commit(1, commit(store.claim(1), accounts={"C": account("C")}))
    got = store.accounts()
    assert set(got) == {"A", "C"}
    assert got["A"].lines["B"].seen == {D: {9}} and got["A"].lines["A"].seen == {}


# -- duplicate sets, due times, directory --------------------------------------------------


def test_seen_buckets_add_and_drop_by_day() -> None:
    store = MemoryStore()
    epoch = store.claim(0)
    a = SeenChange({D: [1, 2], D + 1: [5]}, [])
    store.commit(0, commit(epoch, seen={"A": a, "B": SeenChange({D: [7]}, [])}))
    assert store.seen_among(
        0, {"A": {D: [0, 1, 2], D + 1: [1, 5]}, "B": {D: [8]}, "C": {D: [1]}}
    ) == {
        "A": {D: {1, 2}, D + 1: {5}}
    }  # lines and days without a hit are left out; a key is looked for in its own day
    store.commit(0, commit(epoch, seen={"A": SeenChange({D + 1: [3]}, [])}))  # add
    assert store.seen_among(0, {"A": {D + 1: [3, 5]}}) == {"A": {D + 1: {3, 5}}}
    store.commit(0, commit(epoch, seen={"A": SeenChange({D + 2: [4]}, [D])}))  # day D left
    assert store.seen_among(0, {"A": {D: [1, 2], D + 1: [3], D + 2: [4]}}) == {
        "A": {D + 1: {3}, D + 2: {4}}
    }
    assert store.seen_among(0, {"B": {D: [7]}}) == {"B": {D: {7}}}  # untouched
    assert store.seen_among(1, {"B": {D: [7]}}) == {}  # per partition


def test_due_keys_are_the_accounts_due_by_then() -> None:
    store = MemoryStore()
    a, b = account("A"), account("B")
    a.next_due, b.next_due = 100, 200
    epoch = store.claim(0)
    store.commit(0, commit(epoch, accounts={"B": b, "A": a}))
    assert store.due_keys(0, 99) == []
    assert store.due_keys(0, 100) == ["A"]
    assert store.due_keys(0, 10_000) == ["A", "B"]  # sorted
    a.next_due = 300  # due times move with each commit of the account
    store.commit(0, commit(epoch, accounts={"A": a}))
    assert store.due_keys(0, 250) == ["B"]
    assert store.due_keys(1, 10_000) == []


def test_a_new_account_is_due_at_its_next_change() -> None:
    store = MemoryStore()
    acct = account("A")
    store.commit(0, commit(store.claim(0), accounts={"A": acct}))
    assert acct.next_due > AT
    assert store.due_keys(0, acct.next_due - 1) == []
    assert store.due_keys(0, acct.next_due) == ["A"]


def test_directory_and_account_key() -> None:
    store = MemoryStore()
    epoch = store.claim(0)
    store.commit(0, commit(epoch, directory={"A": "A", "B": "A"}))
    store.commit(0, commit(epoch, directory={"C": "A"}))  # added to, not replaced
    assert [store.account_key(0, m) for m in ("A", "B", "C", "D")] == ["A", "A", "A", None]
    assert store.directory() == {"A": "A", "B": "A", "C": "A"}


# -- the batch transaction -------------------------------------------------------------


def test_batch_txn_the_legal_path() -> None:
    txn = BatchTxn()
    assert txn.status is TxnStatus.STARTED and txn.open
    txn.wrote(2)
    txn.wrote(0)
    txn.prepared()
    assert _status(txn) is TxnStatus.PREPARED and txn.open
    txn.committed()
    assert _status(txn) is TxnStatus.COMMITTED and not txn.open
    assert txn.partitions == [2, 0]
    txn.failed()  # once ended, a no-op
    assert txn.status is TxnStatus.COMMITTED


@pytest.mark.parametrize("prepare", [False, True])
def test_batch_txn_fails_from_started_or_prepared(prepare: bool) -> None:
    txn = BatchTxn()
    if prepare:
        txn.prepared()
    txn.failed()
    assert txn.status is TxnStatus.FAILED and not txn.open
    txn.failed()
    assert txn.status is TxnStatus.FAILED
    for step in (txn.prepared, txn.committed, lambda: txn.wrote(0)):
        with pytest.raises(InvalidTransition):
            step()
    assert txn.status is TxnStatus.FAILED


def _started() -> BatchTxn:
    return BatchTxn()


def _prepared() -> BatchTxn:
    txn = BatchTxn()
    txn.prepared()
    return txn


def _committed() -> BatchTxn:
    txn = _prepared()
    txn.committed()
    return txn


@pytest.mark.parametrize(
    ("start", "step"),
    [
        (_started, "committed"),  # committed before prepared
        (_prepared, "prepared"),
        (_prepared, "wrote"),  # a store write after PREPARED
        (_committed, "prepared"),
        (_committed, "committed"),
        (_committed, "wrote"),
    ],
)
def test_batch_txn_illegal_transitions_raise(start: object, step: str) -> None:
    txn = start()  # type: ignore[operator]
    status = txn.status
    with pytest.raises(InvalidTransition):
        if step == "wrote":
            txn.wrote(0)
        else:
            getattr(txn, step)()
    assert txn.status is status  # unchanged


def _status(txn: BatchTxn) -> TxnStatus:
    """Read afresh (mypy would keep the narrowing of an earlier assert)."""
    return txn.status
