"""In-memory state store (`rater.store.base.Store`): what the Redis store keeps per
partition, in dicts. Used by simulate, replay, the unit tests and the benchmarks.

`isolated=True` (the default) keeps each account as its encoded form, as Redis does:
what a batch changes in memory reaches the store only through `commit`, so a test can
fail a batch half-way and find the store as it was; the duplicate buckets are kept apart
and asked about (`seen_among`), as in Redis. The offline jobs pass `isolated=False`:
the store then keeps the account objects the job rates, saving an encode and a decode
per account and batch, and each line keeps its own buckets in `Line.seen`, which the
core keeps to the window (`seen_in_lines`: a batch asks nothing and writes no bucket
changes); a failed batch ends such a job anyway.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field

from rater.core.state import Account
from rater.store.accounts import decode, encode
from rater.store.base import Fenced, PartitionCommit, SeenKeys, WatermarkMismatch


@dataclass(slots=True)
class MemoryPartition:
    epoch: int = 0
    watermark: dict[str, int] = field(default_factory=dict)
    out: bytes | None = None
    seq: int | None = None  # the last batch's number (PartitionCommit.seq)
    # an account, or its stored parts (rater.store.accounts: cold, hot) when isolated
    accounts: dict[str, Account | tuple[bytes, bytes]] = field(default_factory=dict)
    due: dict[str, int] = field(default_factory=dict)  # account key -> next due time
    directory: dict[str, str] = field(default_factory=dict)  # msisdn -> account key
    # msisdn -> UTC day -> record keys (rater.core.duplicates)
    seen: dict[str, dict[int, set[int]]] = field(default_factory=dict)


class MemoryStore:
    def __init__(self, isolated: bool = True) -> None:
        self.isolated = isolated
        self.seen_in_lines = not isolated
        self.partitions: dict[int, MemoryPartition] = {}
        self.commits = 0

    def _p(self, partition: int) -> MemoryPartition:
        p = self.partitions.get(partition)
        if p is None:
            p = self.partitions[partition] = MemoryPartition()
        return p

    # -- Store ------------------------------------------------------------------------

    def claim(self, partition: int) -> int:
        p = self._p(partition)
        p.epoch += 1
        return p.epoch

    def watermark(self, partition: int) -> tuple[dict[str, int], bytes | None]:
        p = self._p(partition)
        return dict(p.watermark), p.out

    def batch_seq(self, partition: int) -> int | None:
        return self._p(partition).seq

    def load(
        self, partition: int, keys: Iterable[str], cold: dict[str, bytes] | None = None
    ) -> dict[str, Account]:
        stored = self._p(partition).accounts
        found: dict[str, Account] = {}
        for k in keys:
            a = stored.get(k)
            if a is None:
                continue
            if isinstance(a, tuple):
                a = decode(*a)
            found[k] = a
        return found

    def seen_among(self, partition: int, wanted: SeenKeys) -> dict[str, dict[int, set[int]]]:
        p = self._p(partition)
        found: dict[str, dict[int, set[int]]] = {}
        for msisdn, days in wanted.items():
            have = self._line_seen(p, msisdn) if self.seen_in_lines else p.seen.get(msisdn)
            if not have:
                continue
            for day, keys in days.items():
                bucket = have.get(day)
                if bucket:
                    hits = {k for k in keys if k in bucket}
                    if hits:
                        found.setdefault(msisdn, {})[day] = hits
        return found

    @staticmethod
    def _line_seen(p: MemoryPartition, msisdn: str) -> dict[int, set[int]] | None:
        acct = p.accounts.get(p.directory.get(msisdn, ""))
        line = acct.lines.get(msisdn) if isinstance(acct, Account) else None
        return line.seen if line is not None else None

    def due_keys(self, partition: int, until: int, limit: int | None = None) -> list[str]:
        due = self._p(partition).due
        found = [(t, k) for k, t in due.items() if t <= until]
        if limit is not None and len(found) > limit:
            found = heapq.nsmallest(limit, found)
        else:
            found.sort()
        return [k for _, k in found]

    def account_key(self, partition: int, msisdn: str) -> str | None:
        return self._p(partition).directory.get(msisdn)

    def commit(self, partition: int, batch: PartitionCommit) -> dict[str, bytes]:
        p = self._p(partition)
        if batch.epoch != p.epoch:
            raise Fenced(f"partition {partition}: epoch {batch.epoch} is no longer the owner")
        for topic, (expected, _) in batch.watermark.items():
            at = p.watermark.get(topic, 0)
            if at != expected:
                raise WatermarkMismatch(
                    f"partition {partition}: WATERMARK {topic} at {at} not {expected}"
                )
        for topic, (_, new) in batch.watermark.items():
            p.watermark[topic] = new
        p.out = batch.out
        p.seq = batch.seq
        for key, acct in batch.accounts.items():
            if self.isolated:
                p.accounts[key] = encode(acct)
            else:
                p.accounts[key] = acct
            p.due[key] = acct.next_due
        p.directory.update(batch.directory)
        # lines that keep their own buckets (`seen_in_lines`): the changes are in them
        for msisdn, (added, dropped) in () if self.seen_in_lines else batch.seen.items():
            have = p.seen.setdefault(msisdn, {})
            for day in dropped:
                have.pop(day, None)
            for day, keys in added.items():
                have.setdefault(day, set()).update(keys)
        self.commits += 1
        return {}

    def ping(self) -> None:
        return None

    # -- reading a whole run back (reports, tests) -------------------------------------

    def accounts(self) -> dict[str, Account]:
        """Every account of every partition, with the lines' seen sets filled in."""
        out: dict[str, Account] = {}
        for n in sorted(self.partitions):
            p = self.partitions[n]
            loaded = self.load(n, list(p.accounts))
            if self.seen_in_lines:
                out.update(loaded)
                continue
            for acct in loaded.values():
                for msisdn, line in acct.lines.items():
                    line.seen = {d: set(k) for d, k in p.seen.get(msisdn, {}).items()}
            out.update(loaded)
        return out

    def directory(self) -> dict[str, str]:
        """MSISDN -> account key over every partition."""
        out: dict[str, str] = {}
        for p in self.partitions.values():
            out.update(p.directory)
        return out
