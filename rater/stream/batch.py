"""One partition's batch: decode, order, rate through the core, encode the outputs.

No Kafka client and no Redis client here: messages come in as `InMessage`, accounts
through a loader function, and what must be written comes out as a `BatchResult`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from rater import metrics
from rater.codec.deadletter import dead_letter_for
from rater.codec.errors import DecodeError, ErrorClass
from rater.codec.validate import check_usage
from rater.config import Topics
from rater.core.engine import Rater, Status
from rater.core.events import (
    ChargeEvent,
    Event,
    NotificationEvent,
    ThrottleEvent,
    UnratedEvent,
)
from rater.core.inputs import Command, NewSubscriber, Tick, UsageRecord
from rater.core.state import Account
from rater.store.redis import OutMessage
from rater.stream.codecs import PLAIN, WireCodecs


class InMessage(NamedTuple):
    """One consumed input message (a tuple: built once per record, so it must be cheap)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp: int  # ms, the producer's


@dataclass(slots=True)
class BatchResult:
    accounts: dict[str, Account] = field(default_factory=dict)  # changed accounts
    directory: dict[str, str] = field(default_factory=dict)  # new MSISDN -> account key
    out: list[OutMessage] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)  # what the core emitted
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (topic, outcome)
    dead_letters: Counter[str] = field(default_factory=Counter)  # by error class
    # MSISDN -> (the set starts afresh: a new cycle or line, record ids to add)
    seen: dict[str, tuple[bool, list[str]]] = field(default_factory=dict)

    def count_metrics(self) -> None:
        """Move the service metrics once per committed batch (not per record: label
        lookups cost microseconds; not before the commit: an aborted batch is redone)."""
        for reason, n in self.dead_letters.items():
            metrics.DEAD_LETTERS.labels(reason).inc(n)
        for (topic, outcome), n in self.outcomes.items():
            metrics.RECORDS.labels(topic, outcome).inc(n)
        kinds: Counter[str] = Counter()
        fen: Counter[str] = Counter()
        throttles: Counter[str] = Counter()
        unrated: Counter[str] = Counter()
        for e in self.events:
            kinds[type(e).__name__] += 1
            if isinstance(e, ChargeEvent):
                fen[e.kind] += e.fen
            elif isinstance(e, ThrottleEvent):
                throttles[e.action] += 1
            elif isinstance(e, UnratedEvent):
                unrated[e.reason] += 1
        for name, n in kinds.items():
            metrics.EVENTS.labels(_EVENT_LABEL[name]).inc(n)
        for k, n in fen.items():
            metrics.FEN.labels(k).inc(n)
        for k, n in throttles.items():
            metrics.THROTTLES.labels(k).inc(n)
        for k, n in unrated.items():
            metrics.UNRATED.labels(k).inc(n)


_EVENT_LABEL = {
    "ChargeEvent": "charge",
    "ThrottleEvent": "throttle",
    "NotificationEvent": "notification",
    "UnratedEvent": "unrated",
}


Decoded = UsageRecord | Command | Tick


class BatchRater:
    def __init__(
        self,
        rater: Rater,
        topics: Topics,
        max_future_ms: int,
        now_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        codecs: WireCodecs = PLAIN,
    ) -> None:
        self.codecs = codecs
        self.rater = rater
        self.topics = topics
        self.max_future_ms = max_future_ms
        self.now_ms = now_ms
        self._event_topic: dict[type, str] = {
            ChargeEvent: topics.charges,
            ThrottleEvent: topics.throttle,
            NotificationEvent: topics.notifications,
            UnratedEvent: topics.unrated,
        }

    def _dead(self, res: BatchResult, m: InMessage, error: DecodeError | tuple[str, str]) -> None:
        dl = dead_letter_for(m.value, m.key, m.topic, m.partition, m.offset, error, self.now_ms())
        res.dead_letters[dl.error_class] += 1
        res.outcomes[(m.topic, "dead_letter")] += 1
        res.out.append(
            OutMessage(self.topics.dead_letter, m.key or b"", self.codecs.encode_dead_letter(dl))
        )

    def _decode(self, m: InMessage, res: BatchResult, now: int) -> Decoded | None:
        try:
            if m.topic == self.topics.usage:
                rec = self.codecs.decode_usage(m.value)
                problem = check_usage(rec, now, self.max_future_ms)
                if problem is not None:
                    self._dead(res, m, problem)
                    return None
                return rec
            return self.codecs.decode_command(m.value)
        except DecodeError as e:
            self._dead(res, m, e)
            return None

    @staticmethod
    def _time(item: Decoded) -> int:
        return item.start_time if isinstance(item, UsageRecord) else item.time

    def rate(
        self,
        msgs: Iterable[InMessage],
        load: Callable[[set[str]], dict[str, Account]],
        due: Callable[[int], list[str]],
    ) -> BatchResult:
        """Rate one partition's new messages. Usage and commands keep their own order
        and are merged by event time (commands first on a tie)."""
        res = BatchResult()
        now = self.now_ms()
        usage: list[tuple[InMessage, Decoded]] = []
        cmds: list[tuple[InMessage, Decoded]] = []
        for m in msgs:
            item = self._decode(m, res, now)
            if item is not None:
                (usage if m.topic == self.topics.usage else cmds).append((m, item))
        ordered = _merge(cmds, usage, self._time)

        keyed = [
            (m, it, None if isinstance(it, Tick) else _account_key(m, it)) for m, it in ordered
        ]
        keys = {k for _, _, k in keyed if k is not None}
        ticks = [it.time for _, it in ordered if isinstance(it, Tick)]
        if ticks:
            keys.update(due(max(ticks)))
        accounts = load(keys)
        cycle_at_load = {
            msisdn: ln.cycle_id for a in accounts.values() for msisdn, ln in a.lines.items()
        }
        rated: dict[str, list[str]] = {}
        rater = self.rater
        for m, it, key in keyed:
            if isinstance(it, Tick):
                for key in sorted(accounts):
                    acct = accounts[key]
                    before = acct.next_due
                    out = rater.apply(acct, it)
                    if out.events or acct.next_due != before:
                        res.accounts[key] = acct  # a rollover may change state silently
                    self._emit(res, out.events)
                res.outcomes[(m.topic, "tick")] += 1
                continue
            assert key is not None  # every input but a tick has an account
            outcome = rater.apply(accounts.get(key), it)
            if outcome.status == Status.UNKNOWN_SUBSCRIBER:
                self._dead(
                    res,
                    m,
                    (ErrorClass.UNKNOWN_SUBSCRIBER, f"no subscriber {it.msisdn} in account {key}"),
                )
                continue
            if outcome.account is not None:
                accounts[key] = outcome.account
                res.accounts[key] = outcome.account
                if isinstance(it, NewSubscriber) and it.msisdn in outcome.account.lines:
                    res.directory[it.msisdn] = key
                elif isinstance(it, UsageRecord) and outcome.status == Status.APPLIED:
                    rated.setdefault(it.msisdn, []).append(it.record_id)
            res.outcomes[(m.topic, outcome.status.lower())] += 1
            self._emit(res, outcome.events)
        for acct in res.accounts.values():
            for msisdn, line in acct.lines.items():
                if line.cycle_id != cycle_at_load.get(msisdn):
                    res.seen[msisdn] = (True, sorted(line.seen))
                elif msisdn in rated:
                    res.seen[msisdn] = (False, [r for r in rated[msisdn] if r in line.seen])
        return res

    def _emit(self, res: BatchResult, events: list[Event]) -> None:
        res.events.extend(events)
        for e in events:
            res.out.append(
                OutMessage(
                    self._event_topic[type(e)], e.msisdn.encode(), self.codecs.encode_event(e)
                )
            )


def _account_key(m: InMessage, item: UsageRecord | Command) -> str:
    """Producers key every input by its account (the owner's MSISDN for a sharing group)."""
    if m.key:
        return m.key.decode()
    return Rater.routing_key(item)


def _merge(
    a: list[tuple[InMessage, Decoded]],
    b: list[tuple[InMessage, Decoded]],
    when: Callable[[Decoded], int],
) -> list[tuple[InMessage, Decoded]]:
    """Stable merge of two lists each in offset order, by event time; `a` wins ties."""
    if not a:
        return b
    if not b:
        return a
    out: list[tuple[InMessage, Decoded]] = []
    i = j = 0
    while i < len(a) and j < len(b):
        if when(a[i][1]) <= when(b[j][1]):
            out.append(a[i])
            i += 1
        else:
            out.append(b[j])
            j += 1
    out.extend(a[i:])
    out.extend(b[j:])
    return out
