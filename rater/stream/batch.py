"""One partition's batch: decode, order, rate through the core, encode the outputs.

No Kafka client and no Redis client here: messages come in as `InMessage`, accounts
through a loader function, and what must be written comes out as a `BatchResult`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import NamedTuple, cast

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
from rater.core.state import Account, Line
from rater.store.outbox import OutMessage
from rater.stream.codecs import PLAIN, WireCodecs


class InMessage(NamedTuple):
    """One consumed input message (a tuple: built once per record, so it must be cheap)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp: int  # ms, the producer's


# InMessage/OutMessage from a tuple without the NamedTuple's Python-level __new__ (half
# the cost; one of each is built per record)
new_in_message: Callable[[tuple[str, int, int, bytes | None, bytes, int]], InMessage] = partial(
    tuple.__new__, InMessage
)
new_out_message: Callable[[tuple[str, bytes, bytes]], OutMessage] = partial(
    tuple.__new__, OutMessage
)


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
        events = self.events
        kinds = Counter(map(type, events))
        for cls, n in kinds.items():
            metrics.EVENTS.labels(_EVENT_LABEL[cls]).inc(n)
        if kinds[ChargeEvent]:
            fen: dict[str, int] = {}
            for e in events:
                if type(e) is ChargeEvent:
                    fen[e.kind] = fen.get(e.kind, 0) + e.fen
            for k, n in fen.items():
                metrics.FEN.labels(k).inc(n)
        if kinds[ThrottleEvent] or kinds[UnratedEvent]:
            throttles: Counter[str] = Counter()
            unrated: Counter[str] = Counter()
            for e in events:
                if isinstance(e, ThrottleEvent):
                    throttles[e.action] += 1
                elif isinstance(e, UnratedEvent):
                    unrated[e.reason] += 1
            for k, n in throttles.items():
                metrics.THROTTLES.labels(k).inc(n)
            for k, n in unrated.items():
                metrics.UNRATED.labels(k).inc(n)


_EVENT_LABEL: dict[type, str] = {
    ChargeEvent: "charge",
    ThrottleEvent: "throttle",
    NotificationEvent: "notification",
    UnratedEvent: "unrated",
}


Decoded = UsageRecord | Command | Tick
# (event time, message, decoded input, account key: None for a tick)
_Keyed = tuple[int, InMessage, Decoded, str | None]


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

    def rate(
        self,
        msgs: Iterable[InMessage],
        load: Callable[[set[str]], dict[str, Account]],
        due: Callable[[int], list[str]],
        seen: Callable[[dict[str, list[str]]], dict[str, set[str]]] | None = None,
    ) -> BatchResult:
        """Rate one partition's new messages. Usage and commands keep their own order
        and are merged by event time (commands first on a tie).

        `seen`, given the batch's record ids per line, returns those the line has already
        charged this cycle (the store's duplicate sets). The lines then hold only those
        ids in `Line.seen`: the core asks about no other, so a store need not read (or
        keep in memory) a whole cycle's ids per line. Without `seen`, the accounts come
        with their whole sets.

        This runs once per record, so it is written for speed: one pass to decode and
        key, one to rate, counters kept in locals and turned into labels at the end."""
        res = BatchResult()
        now = self.now_ms()
        usage_topic = self.topics.usage
        decode_usage = self.codecs.decode_usage
        decode_command = self.codecs.decode_command
        max_future = self.max_future_ms
        usage: list[_Keyed] = []
        cmds: list[_Keyed] = []
        keys: set[str] = set()
        tick_at: int | None = None
        for m in msgs:
            try:
                if m.topic == usage_topic:
                    rec = decode_usage(m.value)
                    problem = check_usage(rec, now, max_future)
                    if problem is not None:
                        self._dead(res, m, problem)
                        continue
                    key = m.key.decode() if m.key else rec.msisdn
                    usage.append((rec.start_time, m, rec, key))
                    keys.add(key)
                    continue
                cmd = decode_command(m.value)
                if isinstance(cmd, Tick):
                    cmds.append((cmd.time, m, cmd, None))
                    tick_at = cmd.time if tick_at is None else max(tick_at, cmd.time)
                    continue
                key = m.key.decode() if m.key else Rater.routing_key(cmd)
                cmds.append((cmd.time, m, cmd, key))
                keys.add(key)
            except DecodeError as e:
                self._dead(res, m, e)
            except UnicodeDecodeError:
                self._dead(res, m, (ErrorClass.DECODE_ERROR, "message key is not UTF-8"))
        if tick_at is not None:
            keys.update(due(tick_at))
        accounts = load(keys)
        if seen is not None and usage:
            _mark_seen(usage, accounts, seen)
        cycle_at_load = {
            msisdn: ln.cycle_id for a in accounts.values() for msisdn, ln in a.lines.items()
        }
        rated: dict[str, list[str]] = {}
        statuses: dict[tuple[str, Status], int] = {}
        changed = res.accounts
        events = res.events
        out = res.out
        topic_of = self._event_topic
        encode_event = self.codecs.encode_event
        apply = self.rater.apply
        for _, m, it, akey in _merge(cmds, usage) if cmds else usage:
            if akey is None:  # a tick: every loaded account whose time has come
                for k in sorted(accounts):
                    due_acct = accounts[k]
                    before = due_acct.next_due
                    tick_out = apply(due_acct, it)
                    if tick_out.events or due_acct.next_due != before:
                        changed[k] = due_acct  # a rollover may change state silently
                    self._emit(res, tick_out.events)
                res.outcomes[(m.topic, "tick")] += 1
                continue
            assert not isinstance(it, Tick)  # only a tick has no account key
            outcome = apply(accounts.get(akey), it)
            status = outcome.status
            if status is Status.UNKNOWN_SUBSCRIBER:
                self._dead(
                    res,
                    m,
                    (ErrorClass.UNKNOWN_SUBSCRIBER, f"no subscriber {it.msisdn} in account {akey}"),
                )
                continue
            acct = outcome.account
            if acct is not None:
                accounts[akey] = changed[akey] = acct
                if type(it) is UsageRecord:
                    if status is Status.APPLIED:
                        ids = rated.get(it.msisdn)
                        if ids is None:
                            rated[it.msisdn] = [it.record_id]
                        else:
                            ids.append(it.record_id)
                elif isinstance(it, NewSubscriber) and it.msisdn in acct.lines:
                    res.directory[it.msisdn] = akey
            counted = (m.topic, status)
            statuses[counted] = statuses.get(counted, 0) + 1
            evs = outcome.events
            if evs:
                events.extend(evs)
                for ev in evs:
                    out.append(
                        new_out_message((topic_of[type(ev)], ev.msisdn.encode(), encode_event(ev)))
                    )
        for (topic, st), n in statuses.items():
            res.outcomes[(topic, st.lower())] += n
        for acct in changed.values():
            for msisdn, line in acct.lines.items():
                if line.cycle_id != cycle_at_load.get(msisdn):
                    res.seen[msisdn] = (True, sorted(line.seen))
                elif msisdn in rated:
                    res.seen[msisdn] = (False, [r for r in rated[msisdn] if r in line.seen])
        return res

    def _emit(self, res: BatchResult, events: list[Event]) -> None:
        res.events.extend(events)
        topic_of, encode_event = self._event_topic, self.codecs.encode_event
        res.out.extend(
            new_out_message((topic_of[type(e)], e.msisdn.encode(), encode_event(e))) for e in events
        )


def _mark_seen(
    usage: list[_Keyed],
    accounts: dict[str, Account],
    seen: Callable[[dict[str, list[str]]], dict[str, set[str]]],
) -> None:
    """Give each line with usage in the batch the batch's ids it has already charged."""
    wanted: dict[str, list[str]] = {}
    lines: dict[str, Line] = {}
    for _, _, item, akey in usage:
        rec = cast(UsageRecord, item)  # `usage` holds records only
        acct = accounts.get(akey) if akey is not None else None
        line = acct.lines.get(rec.msisdn) if acct is not None else None
        if line is None:
            continue  # unknown here: a dead letter, or created by a command of this batch
        ids = wanted.get(rec.msisdn)
        if ids is None:
            wanted[rec.msisdn] = [rec.record_id]
            lines[rec.msisdn] = line
        else:
            ids.append(rec.record_id)
    if wanted:
        found = seen(wanted)
        for msisdn, line in lines.items():
            line.seen = found.get(msisdn, set())


def _merge(a: list[_Keyed], b: list[_Keyed]) -> list[_Keyed]:
    """Stable merge of two lists each in offset order, by event time; `a` wins ties."""
    if not a:
        return b
    if not b:
        return a
    out: list[_Keyed] = []
    i = j = 0
    while i < len(a) and j < len(b):
        if a[i][0] <= b[j][0]:
            out.append(a[i])
            i += 1
        else:
            out.append(b[j])
            j += 1
    out.extend(a[i:])
    out.extend(b[j:])
    return out
