"""One partition as every job drives it: inputs arrive, wait their turn (the aligner),
are rated (`BatchRater`) and leave as one `PartitionCommit` for the store.

The stream keeps one `PartitionRun` per owned partition for as long as it owns it; the
offline jobs keep one per emulated partition for the whole run. Both call the same
three methods in the same order: `push` (or `push_arrival`), `prepare`, then, once the
store has taken the commit, `committed`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import islice

from rater.core.duplicates import note_key
from rater.core.inputs import UsageRecord
from rater.core.state import Account
from rater.pipeline.align import Aligner, Arrival
from rater.pipeline.batch import BatchRater, BatchResult, PoisonInput
from rater.pipeline.messages import InMessage
from rater.store.base import PartitionCommit, SeenKeys, Store
from rater.store.outbox import pack_messages


@dataclass(slots=True)
class Prepared:
    """A rated partition batch, ready for the store."""

    partition: int
    result: BatchResult
    commit: PartitionCommit
    watermark: dict[str, int]  # the new next offset to apply, per topic
    applied: int  # inputs rated (or dead-lettered)


@dataclass(slots=True)
class PartitionRun:
    """A partition's state between batches: owner epoch, watermark, the inputs held by
    the aligner, and a cache of the accounts as committed to the store.

    The cache is true because only this owner may write the partition (the epoch fences
    others) and a failed batch drops the whole `PartitionRun`."""

    n: int
    epoch: int
    watermark: dict[str, int]
    cache_limit: int = 200_000
    recovered: bool = False
    aligner: Aligner = field(default_factory=Aligner)
    consumed: dict[str, int] = field(default_factory=dict)  # next offset after the last seen
    accounts: dict[str, Account] = field(default_factory=dict)
    cold: dict[str, bytes] = field(default_factory=dict)  # stored cold bytes per account
    waiting_since: float | None = None  # monotonic s since the aligner waits on a topic
    # the store returns accounts as committed (Redis, an isolated memory store), so a
    # batch can be rated again from it after the core raised on one of its inputs
    can_reload: bool = True
    poisoned: int = 0  # inputs on which the core raised, dead-lettered
    unfinished: bool = False  # the last batch left a tick half applied: go on at once
    seq: int = 0  # the number of the last batch written (the store's `batch_seq`)

    def push(self, batch: BatchRater, msgs: list[InMessage], usage_topic: str, now: int) -> None:
        """Decode, check and queue consumed messages, skipping those below the watermark
        (applied before a crash: recovery re-emits their outputs)."""
        wm = self.watermark
        usage_q, cmd_q = self.aligner.usage, self.aligner.commands
        consumed = self.consumed
        arrive = batch.arrive
        for m in msgs:
            t = m.topic
            nxt = m.offset + 1
            if nxt > consumed.get(t, 0):
                consumed[t] = nxt
            if m.offset < wm.get(t, 0):
                continue
            (usage_q if t == usage_topic else cmd_q).append(arrive(m, now))

    def push_arrival(self, a: Arrival, usage_topic: str) -> None:
        """Queue an input decoded elsewhere (offline jobs)."""
        t = a.msg.topic
        self.consumed[t] = a.msg.offset + 1
        (self.aligner.usage if t == usage_topic else self.aligner.commands).append(a)

    def passed(self, topic: str, position: int) -> None:
        """The consumer is past `position` on `topic` (transaction markers, aborted
        records): nothing below it is left to apply."""
        if position > self.consumed.get(topic, 0):
            self.consumed[topic] = position

    def load(self, store: Store, keys: set[str]) -> dict[str, Account]:
        """Accounts from the cache of committed state, else the store.

        The cache is kept in order of use (a hit moves to the end) and holds at most
        `cache_limit` accounts: when the batch's misses would pass it, the least recently
        used go, a sixteenth of the limit at a time so that eviction is rare. The
        accounts in use stay: no batch starts from an empty cache."""
        cache = self.accounts
        found: dict[str, Account] = {}
        missing: list[str] = []
        for k in keys:
            acct = cache.pop(k, None)
            if acct is None:
                missing.append(k)
            else:
                cache[k] = found[k] = acct  # to the end: most recently used
        if missing:
            self._make_room(len(missing))
            loaded = store.load(self.n, missing, self.cold)
            cache.update(loaded)
            found.update(loaded)
        return found

    def _make_room(self, incoming: int) -> None:
        cache, cold = self.accounts, self.cold
        excess = len(cache) + incoming - self.cache_limit
        if excess <= 0:
            return
        excess = min(len(cache), excess + self.cache_limit // 16)
        for k in list(islice(cache, excess)):  # the least recently used first
            del cache[k]
            cold.pop(k, None)

    def wants(self, ready: list[Arrival]) -> tuple[list[str], SeenKeys]:
        """What rating `ready` will read from the store, to read it ahead
        (rater.store.readahead): the accounts the cache does not hold, and the keys of
        the records per line and day. A superset: the batch asks about no more."""
        cache = self.accounts
        missing: set[str] = set()
        seen: dict[str, dict[int, list[int]]] = {}
        for a in ready:
            key, it = a.key, a.item
            if key is None:
                continue  # a tick (its due accounts are asked when rated) or a dead letter
            if key not in cache:
                missing.add(key)
            if type(it) is UsageRecord:
                days = seen.get(it.msisdn)
                if days is None:
                    days = seen[it.msisdn] = {}
                note_key(days, it.start_time, it.record_id)
        return list(missing), seen

    def prepare(
        self,
        batch: BatchRater,
        store: Store,
        usage_done: bool,
        commands_done: bool,
        keep_outputs: bool = True,
        ready: list[Arrival] | None = None,
    ) -> Prepared | None:
        """Rate what the aligner releases (or `ready`, released already); None when
        nothing is to be written (no input released and the watermark unmoved).
        `keep_outputs`: the store keeps the batch's encoded outputs for recovery (a job
        that writes files has nothing to recover)."""
        if ready is None:
            ready = self.aligner.release(usage_done, commands_done)
        new_wm = self._watermark()
        if not ready and new_wm == self.watermark:
            return None
        n = self.n
        while True:
            try:
                res = batch.rate(
                    ready,
                    lambda keys: self.load(store, keys),
                    lambda until, limit: store.due_keys(n, until, limit),
                    None if store.seen_in_lines else lambda wanted: store.seen_among(n, wanted),
                )
                break
            except PoisonInput as poison:
                # The core raised on one input, part-way through changing its account.
                # The cache holds that half-changed account: drop it and rate the same
                # inputs again from what the store holds, the poison one dead-lettered
                # in its place (deterministic: the others rate exactly as before).
                if not self.can_reload:
                    raise
                self.accounts.clear()
                self.cold.clear()
                ready = batch.without(ready, poison)
                self.poisoned += 1
        self.unfinished = bool(res.held)
        if res.held:  # an unfinished tick: it and what followed it wait for the next batch
            self.aligner.put_back(res.held, batch.topics.usage)
            ready = ready[: len(ready) - len(res.held)]
            new_wm = self._watermark()
        if keep_outputs:  # the stream's latency metrics
            res.input_times = [a.msg.timestamp for a in ready]
            res.event_times = [a.time for a in ready if type(a.item) is UsageRecord]
        old = self.watermark
        commit = PartitionCommit(
            epoch=self.epoch,
            watermark={t: (old.get(t, 0), o) for t, o in new_wm.items() if o != old.get(t, 0)},
            accounts=res.accounts,
            directory=res.directory,
            out=pack_messages(res.out) if keep_outputs else b"",
            seen=res.seen,
            cold=self.cold,
            seq=self.seq + 1,
        )
        return Prepared(n, res, commit, new_wm, len(ready))

    def _watermark(self) -> dict[str, int]:
        """The next offset to apply per topic: the first input held, else the next
        consumed."""
        held = self.aligner.first_held()
        new_wm = dict(self.watermark)
        for topic, nxt in self.consumed.items():
            stop = held.get(topic, nxt)
            if stop > new_wm.get(topic, 0):
                new_wm[topic] = stop
        return new_wm

    def committed(self, p: Prepared, cold: dict[str, bytes]) -> None:
        """The store holds `p`: the cache and the watermark move on."""
        self.watermark = p.watermark
        self.seq = p.commit.seq
        self.accounts.update(p.result.accounts)
        self.cold.update(cold)
