"""Redis state store: each input partition's state lives under one hash tag, so every
step that touches it is atomic on one node, Redis Cluster included.

Keys of partition p in namespace ns (a replay uses its own namespace):

    {ns:p}:epoch     owner epoch; bumped by each new owner, checked by every write
    {ns:p}:wm        hash: next offset to apply per input topic, plus "out", the last
                     applied batch's outputs, compressed (rater.store.outbox; re-emitted
                     if Kafka did not commit them) with that batch's number
    {ns:p}:a:<key>   one account (MessagePack, rater.store.accounts) but its hot
                     counters (the cold part, about 350 bytes); written when it changed
    {ns:p}:h:<key>   the account's hot counters (about 40 bytes), written with every
                     change (the commit script writes both keys of an account together).
    {ns:p}:due       sorted set: account key -> earliest time a change is due (ticks)
    {ns:p}:dir       hash: MSISDN -> account key (for `rater balance`)
    {ns:p}:seen:<m>:<d>
                     set of integers: the keys of the records line m rated that start on
                     UTC day d, within the duplicate window (rater.core.duplicates):
                     an intset of 8 bytes a member up to `set-max-intset-entries` (512
                     by default). Out of the account, so a write costs the same on day 1
                     and day 30; asked with SMISMEMBER (`seen_among`), never read whole;
                     deleted when its day leaves the window.

The write of a batch is one Lua script: fencing check, expected watermark check,
accounts, due times, directory, new watermark and the batch's outputs, all or nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import redis

from rater.core.state import Account
from rater.store.accounts import NotAnAccount, decode, encode
from rater.store.base import Fenced, PartitionCommit, SeenKeys, WatermarkMismatch
from rater.store.client import first_contact, redis_client, settings_client
from rater.store.outbox import for_redis, stored_seq
from rater.store.readahead import Asked, Blobs, ReadAhead
from rater.store.script import COMMIT, SEEN

__all__ = [
    "Fenced",
    "RedisStore",
    "WatermarkMismatch",
    "first_contact",
    "redis_client",
    "settings_client",
]


class RedisStore:
    """Partition-scoped state in Redis (standalone or Cluster); a `Store`."""

    seen_in_lines = False  # the buckets are keys of their own (`seen_among`)

    def __init__(self, client: redis.Redis | Any, namespace: str = "rater") -> None:
        self.r: Any = client
        self.ns = namespace
        self._commit = client.register_script(COMMIT)
        self._seen = client.register_script(SEEN)

    def ping(self) -> None:
        self.r.ping()

    def tag(self, partition: int) -> str:
        return f"{{{self.ns}:{partition}}}"

    def _acct_prefix(self, partition: int) -> str:
        return f"{self.tag(partition)}:a:"

    def claim(self, partition: int) -> int:
        """Become the partition's owner: a new epoch fences every earlier owner."""
        return int(self.r.incr(f"{self.tag(partition)}:epoch"))

    def watermark(self, partition: int) -> tuple[dict[str, int], bytes | None]:
        """Next offset to apply per topic, and the last applied batch's outputs."""
        raw: dict[bytes, bytes] = self.r.hgetall(f"{self.tag(partition)}:wm")
        out = raw.pop(b"out", None)
        return {k.decode(): int(v) for k, v in raw.items()}, out

    def batch_seq(self, partition: int) -> int | None:
        """From the stored outputs' header: it cannot go stale, whoever wrote last."""
        out = self.r.hget(f"{self.tag(partition)}:wm", "out")
        return stored_seq(out) if out else None

    def _hot_prefix(self, partition: int) -> str:
        return f"{self.tag(partition)}:h:"

    def load(
        self,
        partition: int,
        keys: Iterable[str],
        cold: dict[str, bytes] | None = None,
        with_seen: bool = False,
    ) -> dict[str, Account]:
        """The accounts found under `keys`. `cold` (if given) gets each one's stored cold
        bytes, for `commit` to tell whether the cold part changed since. The lines' record
        keys are read only `with_seen` (snapshots and tests: it scans the partition's
        buckets; the stream asks `seen_among` about a batch's keys)."""
        keys = list(keys)
        if not keys:
            return {}
        a, h = self._acct_prefix(partition), self._hot_prefix(partition)
        blobs = self.r.mget([a + k for k in keys] + [h + k for k in keys])
        accounts = self._decode(partition, keys, blobs[: len(keys)], blobs[len(keys) :], cold)
        if with_seen and accounts:
            seen = self.seen_of(partition)
            for acct in accounts.values():
                for msisdn, line in acct.lines.items():
                    line.seen = seen.get(msisdn, {})
        return accounts

    def _decode(
        self,
        partition: int,
        keys: list[str],
        colds: list[bytes | None],
        hots: list[bytes | None],
        cold: dict[str, bytes] | None,
    ) -> dict[str, Account]:
        """Accounts from their stored keys (`cold` gets each one's cold bytes)."""
        accounts = {}
        for k, c, hot in zip(keys, colds, hots, strict=True):
            if not c:
                continue
            if not hot:  # both are written by one script: never one without the other
                a, h = self._acct_prefix(partition), self._hot_prefix(partition)
                raise ValueError(f"{a}{k} has no hot counters at {h}{k}: not a rater account")
            try:
                accounts[k] = decode(c, hot)
            except NotAnAccount as e:
                raise NotAnAccount(f"{self._acct_prefix(partition)}{k}: {e}") from None
            if cold is not None:
                cold[k] = c
        return accounts

    def read_ahead(self, wants: Mapping[int, tuple[list[str], SeenKeys]]) -> dict[int, ReadAhead]:
        """For a consumer batch of several partitions, in one round trip: the accounts
        each partition will load (its cache's misses, one MGET) and which of its records'
        keys its lines have (one script over its buckets: a reply per partition, not one
        per line and day, which redis-py would parse one at a time)."""
        plan: list[tuple[int, list[str], list[tuple[str, int, list[int]]]]] = []
        calls: list[tuple[str, list[Any]]] = []
        for n, (keys, wanted) in wants.items():
            if keys:
                a, h = self._acct_prefix(n), self._hot_prefix(n)
                calls.append(("MGET", [a + k for k in keys] + [h + k for k in keys]))
            asked: list[tuple[str, int, list[int]]] = []
            buckets: list[str] = []
            args: list[int] = []
            for msisdn, days in wanted.items():
                for day, ks in days.items():
                    uniq = list(set(ks))
                    buckets.append(self._seen_key(n, msisdn, day))
                    args.append(len(uniq))
                    args += uniq
                    asked.append((msisdn, day, uniq))
            if buckets:
                calls.append(("EVALSHA", [self._seen.sha, len(buckets), *buckets, *args]))
            if keys or asked:
                plan.append((n, keys, asked))
        if not plan:
            return {}
        replies = iter(self._pipelined(calls))
        views: dict[int, ReadAhead] = {}
        for n, keys, asked in plan:
            blobs: Blobs = {}
            if keys:
                got = next(replies)
                pairs = zip(got[: len(keys)], got[len(keys) :], strict=True)
                blobs = dict(zip(keys, pairs, strict=True))
            seen: Asked = {}
            if asked:
                flags = next(replies)
                at = 0
                for msisdn, day, uniq in asked:
                    mine = flags[at : at + len(uniq)]
                    at += len(uniq)
                    hits = {k for k, hit in zip(uniq, mine, strict=True) if hit}
                    seen[(msisdn, day)] = (frozenset(uniq), hits)
            views[n] = ReadAhead(self, n, blobs, seen, self._decode)
        return views

    def _pipelined(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """Commands in one round trip; a Redis that lost its scripts (restarted) gets the
        read script again and the reads are sent again (they change nothing)."""
        for attempt in (1, 2):
            pipe = self.r.pipeline(transaction=False)
            for name, args in calls:
                pipe.execute_command(name, *args)
            try:
                return list(pipe.execute())
            except redis.exceptions.NoScriptError:
                if attempt == 2:
                    raise
                self.r.script_load(SEEN)
        raise AssertionError("unreachable")

    def seen_of(self, partition: int) -> dict[str, dict[int, set[int]]]:
        """Every line's record keys in the partition (snapshots and tests: a SCAN)."""
        prefix = f"{self.tag(partition)}:seen:"
        found: dict[str, dict[int, set[int]]] = {}
        names = [k.decode() for k in self.r.scan_iter(match=prefix + "*", count=1000)]
        pipe = self.r.pipeline(transaction=False)
        for name in names:
            pipe.smembers(name)
        for name, members in zip(names, pipe.execute(), strict=True):
            msisdn, day = name[len(prefix) :].rsplit(":", 1)
            found.setdefault(msisdn, {})[int(day)] = {int(m) for m in members}
        return found

    def seen_among(self, partition: int, wanted: SeenKeys) -> dict[str, dict[int, set[int]]]:
        """Of the record keys given per line (MSISDN) and day, those the line has: one
        SMISMEMBER per line and day, in one round trip."""
        if not wanted:
            return {}
        pipe = self.r.pipeline(transaction=False)
        asked: list[tuple[str, int, Sequence[int]]] = []
        for msisdn, days in wanted.items():
            for day, keys in days.items():
                pipe.smismember(self._seen_key(partition, msisdn, day), list(keys))
                asked.append((msisdn, day, keys))
        found: dict[str, dict[int, set[int]]] = {}
        for (msisdn, day, keys), flags in zip(asked, pipe.execute(), strict=True):
            hits = {k for k, hit in zip(keys, flags, strict=True) if hit}
            if hits:
                found.setdefault(msisdn, {})[day] = hits
        return found

    def _seen_key(self, partition: int, msisdn: str, day: int) -> str:
        return f"{self.tag(partition)}:seen:{msisdn}:{day}"

    def due_keys(self, partition: int, until: int, limit: int | None = None) -> list[str]:
        """At most `limit` accounts due by `until`, the earliest first (then by key)."""
        page: dict[str, int] = {} if limit is None else {"start": 0, "num": limit}
        due = self.r.zrangebyscore(f"{self.tag(partition)}:due", "-inf", until, **page)
        return [k.decode() for k in due]

    def account_key(self, partition: int, msisdn: str) -> str | None:
        v = self.r.hget(f"{self.tag(partition)}:dir", msisdn)
        return v.decode() if v is not None else None

    def commit(self, partition: int, batch: PartitionCommit) -> dict[str, bytes]:
        """Write a batch atomically (one Lua script). An account whose cold part is the
        same as `batch.cold` holds gets only its hot counters written. Returns the cold
        bytes stored now, to remember once this commit has succeeded."""
        return self.staged(partition, batch)()

    def staged(self, partition: int, batch: PartitionCommit) -> Callable[[], dict[str, bytes]]:
        """`commit` in two halves: the arguments are built now (encoding the accounts),
        and the returned call compresses the outputs and makes the round trip: the stream
        builds on its loop thread and sends from its writer thread, holding the GIL little."""
        epoch, watermark, accounts = batch.epoch, batch.watermark, batch.accounts
        directory, out, seen, cold = batch.directory, batch.out, batch.seen, batch.cold
        tag = self.tag(partition)
        prefix, hot_prefix = self._acct_prefix(partition), self._hot_prefix(partition)
        keys = [f"{tag}:epoch", f"{tag}:wm", f"{tag}:due", f"{tag}:dir"]
        args: list[Any] = [epoch, len(watermark)]
        for topic, (expected, new) in watermark.items():
            args += [topic, expected, new]
        out_at = len(args)
        args += [out, len(accounts)]
        written: dict[str, bytes] = {}
        for key, acct in accounts.items():
            keys += [prefix + key, hot_prefix + key]
            blob, hot = encode(acct)
            if cold.get(key) == blob:
                args += [b"", hot, acct.next_due]
            else:
                args += [blob, hot, acct.next_due]
                written[key] = blob
        args.append(len(directory))
        for msisdn, key in directory.items():
            args += [msisdn, key]
        buckets: list[tuple[str, Sequence[int]]] = []
        for msisdn, (added, dropped) in seen.items():
            buckets += [(self._seen_key(partition, msisdn, day), ()) for day in dropped]
            buckets += [(self._seen_key(partition, msisdn, d), ks) for d, ks in added.items() if ks]
        args.append(len(buckets))
        for key, ids in buckets:
            keys.append(key)
            args += [len(ids), *ids]
        args.append(len(prefix))

        def send() -> dict[str, bytes]:
            args[out_at] = for_redis(out, batch.seq)
            try:
                self._commit(keys=keys, args=args)
                return written
            except redis.ResponseError as e:
                msg = str(e)
                if msg.startswith("FENCED"):
                    raise Fenced(f"partition {partition}: epoch {epoch} is not the owner") from e
                if msg.startswith("WATERMARK"):
                    raise WatermarkMismatch(f"partition {partition}: {msg}") from e
                raise

        return send

    def find_account(self, msisdn: str, partitions: int) -> tuple[int, str] | None:
        """Which partition and account hold `msisdn` (for `rater balance`)."""
        for p in range(partitions):
            key = self.account_key(p, msisdn)
            if key is not None:
                return p, key
        return None

    def account_keys(self, partition: int) -> list[str]:
        """Every account key of a partition, sorted (snapshots): the members of its due
        set, which every account written has."""
        due = f"{self.tag(partition)}:due"
        return sorted(k.decode() for k, _ in self.r.zscan_iter(due, count=1000))
