"""The state store interface every job rates through, and the batch transaction.

A store keeps, per input partition: the accounts, the keys of the records each line has
rated within the duplicate window (`rater.core.duplicates`), the time each account has
a change due (ticks), the directory MSISDN -> account, an owner epoch, and the watermark
(next input offset to apply per topic) with the encoded outputs of the last applied
batch.
`rater.store.memory.MemoryStore` (simulate, replay, tests, benchmarks) and
`rater.store.redis.RedisStore` (the stream) implement it.

How a batch becomes durable (the commit order; docs/exactly-once.md argues it crash by
crash and refers here):

1. STARTED: the batch's inputs are consumed; the Kafka transaction is begun.
2. Each partition is rated from accounts the store returns (`load`, `seen_among`,
   `due_keys`), and its `PartitionCommit` (state, watermark, outputs) is written with one
   atomic `commit`, refused if the epoch is no longer the owner's or the watermark is
   not where the batch started. When every partition is written: PREPARED.
3. The outputs are produced in the Kafka transaction with the consumer offsets (equal to
   the new watermarks), and the transaction commits: COMMITTED.
4. Anything failing on the way: FAILED; the Kafka transaction is aborted and the session
   starts over from what the store and Kafka hold.
0. Recovery (a new owner, before its first batch): `claim` the partition (a new epoch
   fences every earlier owner), read `watermark` and `batch_seq`; if the batch number
   that Kafka's committed offsets carry is behind the store's, the last batch reached
   PREPARED but not COMMITTED: its stored outputs are produced again with the offsets,
   never re-rated. (The offsets alone cannot tell: a batch that goes on with a tick
   held over several batches moves none.)

Jobs without Kafka (simulate, replay) go STARTED -> PREPARED -> COMMITTED with the
outputs written to files at step 3.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import NamedTuple, Protocol

from rater.core.state import Account


class Fenced(Exception):
    """A newer owner has claimed the partition: this process must not write to it."""


class WatermarkMismatch(Exception):
    """The stored watermark is not where this batch started: someone else applied it."""


class SeenChange(NamedTuple):
    """What a batch changes in one line's record keys (rater.core.duplicates)."""

    added: Mapping[int, Sequence[int]]  # UTC day -> keys of records first rated now
    dropped: Sequence[int]  # days whose buckets left the window


# MSISDN -> UTC day -> record keys: what a batch asks a store about, and what it finds
SeenKeys = Mapping[str, Mapping[int, Sequence[int]]]


@dataclass(slots=True)
class PartitionCommit:
    """Everything one partition batch writes, all or nothing."""

    epoch: int
    watermark: Mapping[str, tuple[int, int]]  # topic -> (expected, new) next offset
    accounts: Mapping[str, Account]  # changed accounts
    directory: Mapping[str, str]  # new MSISDN -> account key
    out: bytes  # the batch's encoded outputs (rater.store.outbox), kept for recovery
    # MSISDN -> the line's record keys to add and day buckets to drop
    seen: Mapping[str, SeenChange] = field(default_factory=dict)
    # account key -> its cold bytes as last stored (RedisStore writes only changes)
    cold: Mapping[str, bytes] = field(default_factory=dict)
    # the partition's batch number after this one (1, 2, ...): the Kafka offsets of the
    # batch carry it too, so recovery tells a committed batch from one that is not even
    # when the batch moved no offset (a tick held over several batches)
    seq: int = 0


class Store(Protocol):
    """Partition-scoped state, as every job needs it."""

    # True: the store keeps the account objects a job rates, and each line keeps its own
    # duplicate buckets in `Line.seen` (the whole window): a batch asks `seen_among`
    # nothing and writes no `PartitionCommit.seen` (`BatchRater.rate`)
    seen_in_lines: bool

    def claim(self, partition: int) -> int:
        """Become the partition's owner; returns the new epoch, which fences older ones."""
        ...

    def watermark(self, partition: int) -> tuple[dict[str, int], bytes | None]:
        """Next offset to apply per input topic, and the last applied batch's outputs."""
        ...

    def batch_seq(self, partition: int) -> int | None:
        """The number of the last batch written (`PartitionCommit.seq`); None when the
        partition was last written before batches were numbered, or never."""
        ...

    def load(
        self, partition: int, keys: Iterable[str], cold: dict[str, bytes] | None = None
    ) -> dict[str, Account]:
        """The accounts found under `keys`, their lines' `seen` empty (ask
        `seen_among`) unless `seen_in_lines`. `cold` gets each account's stored cold
        bytes where the store keeps them (for `PartitionCommit.cold`)."""
        ...

    def seen_among(self, partition: int, wanted: SeenKeys) -> dict[str, dict[int, set[int]]]:
        """Of the record keys given per line (MSISDN) and day, those the line has."""
        ...

    def due_keys(self, partition: int, until: int, limit: int | None = None) -> list[str]:
        """Accounts of the partition with a change due at or before `until`, the earliest
        first (ties by key), at most `limit` of them."""
        ...

    def account_key(self, partition: int, msisdn: str) -> str | None:
        """The account holding a line, from the directory."""
        ...

    def commit(self, partition: int, batch: PartitionCommit) -> dict[str, bytes]:
        """Write a partition batch atomically; raises `Fenced` or `WatermarkMismatch`.
        Returns the cold bytes stored now per account (to remember once it succeeded)."""
        ...

    def ping(self) -> None:
        """Raise if the store cannot be reached (an idle member checks now and then)."""
        ...


class TxnStatus(Enum):
    STARTED = "started"
    PREPARED = "prepared"  # every partition's state, watermark and outputs are in the store
    COMMITTED = "committed"  # the outputs and offsets are committed (Kafka, or the files)
    FAILED = "failed"


class InvalidTransition(RuntimeError):
    """A transaction step out of order: a bug in the job that drives it."""


_NEXT: dict[TxnStatus, frozenset[TxnStatus]] = {
    TxnStatus.STARTED: frozenset({TxnStatus.PREPARED, TxnStatus.FAILED}),
    TxnStatus.PREPARED: frozenset({TxnStatus.COMMITTED, TxnStatus.FAILED}),
    TxnStatus.COMMITTED: frozenset(),
    TxnStatus.FAILED: frozenset(),
}


class BatchTxn:
    """One batch's way through the commit order above, checked at every step."""

    __slots__ = ("partitions", "status")

    def __init__(self) -> None:
        self.status = TxnStatus.STARTED
        self.partitions: list[int] = []  # written to the store, in order

    def _to(self, status: TxnStatus) -> None:
        if status not in _NEXT[self.status]:
            raise InvalidTransition(f"batch transaction: {self.status.value} -> {status.value}")
        self.status = status

    def wrote(self, partition: int) -> None:
        """A partition's commit reached the store (only before PREPARED)."""
        if self.status is not TxnStatus.STARTED:
            raise InvalidTransition(f"batch transaction: a store write when {self.status.value}")
        self.partitions.append(partition)

    def prepared(self) -> None:
        self._to(TxnStatus.PREPARED)

    def committed(self) -> None:
        self._to(TxnStatus.COMMITTED)

    def failed(self) -> None:
        """Mark the batch failed (a no-op once it has ended either way)."""
        if self.status in (TxnStatus.STARTED, TxnStatus.PREPARED):
            self.status = TxnStatus.FAILED

    @property
    def open(self) -> bool:
        return self.status in (TxnStatus.STARTED, TxnStatus.PREPARED)
