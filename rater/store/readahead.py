"""A partition's reads of a consumer batch, made before its rating, for every
partition of the batch in one Redis round trip.

Rating a partition's batch reads two things from the store: the accounts its cache
does not hold, and which of its records' keys the lines have already rated (the
duplicate buckets). Asked partition by partition, that is two round trips per partition
and batch, each waited for by the loop. `RedisStore.read_ahead` asks them for all the
partitions at once (one pipeline); `ReadAhead` then answers the partition's `load` and
`seen_among` from the replies, and anything it was not asked (a tick's due accounts, a
batch rated again after a poison input) from the store itself.

The replies are the committed state: a partition's previous batch has been written
before the next is consumed, and only this owner writes the partition (the epoch). So
the answers are those the store would give at rating time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from rater.core.state import Account
from rater.store.base import PartitionCommit, SeenKeys, Store

# MSISDN, UTC day -> (the record keys asked, those the line has)
Asked = dict[tuple[str, int], tuple[frozenset[int], set[int]]]
# account key -> (its stored cold bytes, its hot counters), None where absent
Blobs = dict[str, tuple[bytes | None, bytes | None]]
# (partition, keys, their cold bytes, their hot bytes, cold bytes found) -> accounts
Decode = Callable[
    [int, list[str], list[bytes | None], list[bytes | None], dict[str, bytes] | None],
    dict[str, Account],
]


class ReadAhead:
    """The store as one partition's batch sees it: its reads already made. Implements
    `rater.store.base.Store` by answering from them, else from the store."""

    __slots__ = ("asked", "blobs", "decode", "partition", "store")
    seen_in_lines = False

    def __init__(
        self,
        store: Store,
        partition: int,
        blobs: Blobs,
        asked: Asked,
        decode: Callable[
            [int, list[str], list[bytes | None], list[bytes | None], dict[str, bytes] | None],
            dict[str, Account],
        ],
    ) -> None:
        self.store = store
        self.partition = partition
        self.blobs = blobs
        self.asked = asked
        self.decode = decode

    def load(
        self, partition: int, keys: Iterable[str], cold: dict[str, bytes] | None = None
    ) -> dict[str, Account]:
        blobs = self.blobs
        read: list[str] = []
        rest: list[str] = []
        for k in keys:
            (read if k in blobs else rest).append(k)
        found = self.decode(
            partition, read, [blobs[k][0] for k in read], [blobs[k][1] for k in read], cold
        )
        if rest:
            found.update(self.store.load(partition, rest, cold))
        return found

    def seen_among(self, partition: int, wanted: SeenKeys) -> dict[str, dict[int, set[int]]]:
        asked = self.asked
        found: dict[str, dict[int, set[int]]] = {}
        rest: dict[str, dict[int, list[int]]] = {}
        for msisdn, days in wanted.items():
            for day, keys in days.items():
                got = asked.get((msisdn, day))
                if got is None or not got[0].issuperset(keys):
                    rest.setdefault(msisdn, {})[day] = list(keys)
                    continue
                hits = got[1].intersection(keys)
                if hits:
                    found.setdefault(msisdn, {})[day] = hits
        if rest:
            for msisdn, more in self.store.seen_among(partition, rest).items():
                found.setdefault(msisdn, {}).update(more)
        return found

    def claim(self, partition: int) -> int:
        return self.store.claim(partition)

    def watermark(self, partition: int) -> tuple[dict[str, int], bytes | None]:
        return self.store.watermark(partition)

    def batch_seq(self, partition: int) -> int | None:
        return self.store.batch_seq(partition)

    def due_keys(self, partition: int, until: int, limit: int | None = None) -> list[str]:
        return self.store.due_keys(partition, until, limit)

    def account_key(self, partition: int, msisdn: str) -> str | None:
        return self.store.account_key(partition, msisdn)

    def commit(self, partition: int, batch: PartitionCommit) -> dict[str, bytes]:
        return self.store.commit(partition, batch)

    def ping(self) -> None:
        self.store.ping()
