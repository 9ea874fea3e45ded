"""One partition's batch: decode and check each input, rate the inputs whose turn has
come through the core, encode the outputs. The only place that decides what is charged,
unrated or dead-lettered, for every job.

No Kafka client, no Redis client, no file here: messages come in as `InMessage`,
accounts through the store's functions, and what must be written comes out as a
`BatchResult`.
"""

from __future__ import annotations

import time
import typing
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from rater import metrics
from rater.codec.codecs import PLAIN, WireCodecs
from rater.codec.deadletter import MAX_DEAD_LETTER_BYTES, DeadLetter, dead_letter_for
from rater.codec.errors import DecodeError, ErrorClass
from rater.codec.validate import check_command, check_usage
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
from rater.pipeline.align import BAD, Arrival, Decoded
from rater.pipeline.messages import InMessage, OutMessage, new_out_message
from rater.pipeline.seen import mark_seen, seen_changes
from rater.routing import account_key
from rater.store.base import SeenChange, SeenKeys

COMMAND_TYPES: tuple[type, ...] = typing.get_args(Command)
TICK_ACCOUNTS = 1000  # due accounts a tick applies to per batch (`tick_accounts_per_batch`)


@dataclass(slots=True)
class BatchResult:
    accounts: dict[str, Account] = field(default_factory=dict)  # changed accounts
    directory: dict[str, str] = field(default_factory=dict)  # new MSISDN -> account key
    out: list[OutMessage] = field(default_factory=list)
    lines: list[bytes] = field(default_factory=list)  # the events' values instead (files)
    events: list[Event] = field(default_factory=list)  # what the core emitted
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (topic, outcome)
    dead_letters: Counter[str] = field(default_factory=Counter)  # by error class
    # MSISDN -> the line's record keys to add and day buckets to drop
    seen: dict[str, SeenChange] = field(default_factory=dict)
    dead: list[DeadLetter] = field(default_factory=list)  # also in `out`, encoded
    # a tick with more due accounts than a batch takes, and what came after it: not
    # finished, back to the aligner (`BatchRater.rate`)
    held: list[Arrival] = field(default_factory=list)
    input_times: list[int] = field(default_factory=list)  # message timestamps (ms)
    event_times: list[int] = field(default_factory=list)  # usage start times (ms)

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


class PoisonInput(Exception):
    """The rating core raised on one input (a bug in the core). The batch's accounts may
    hold part of its effect: the caller re-rates the batch from the store without it."""

    def __init__(self, arrival: Arrival, error: BaseException) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.arrival = arrival
        self.error = error

    def dead_letter_reason(self) -> tuple[str, str]:
        return ErrorClass.RATING_ERROR, f"the rating core failed: {self}"[:1000]


class BatchRater:
    """Decodes, checks and rates one partition's inputs (stateless between batches: the
    accounts come from the store, the order from `rater.pipeline.align`)."""

    def __init__(
        self,
        rater: Rater,
        topics: Topics,
        max_future_ms: int,
        now_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        codecs: WireCodecs = PLAIN,
        encode_output: Callable[[Event], bytes] | None = None,
        dead_letter_max_bytes: int = MAX_DEAD_LETTER_BYTES,
        tick_accounts: int = TICK_ACCOUNTS,
        as_lines: bool = False,
    ) -> None:
        # a job that writes files: the events' encoded values go to `BatchResult.lines`,
        # with no topic or key (dead letters still go to `out` and `dead`)
        self.as_lines = as_lines
        self.dead_letter_max_bytes = dead_letter_max_bytes
        self.tick_accounts = max(1, tick_accounts)
        self.codecs = codecs
        self.rater = rater
        self.topics = topics
        self.max_future_ms = max_future_ms
        self.now_ms = now_ms
        self.encode_event = encode_output or codecs.encode_event
        self._event_topic: dict[type, str] = {
            ChargeEvent: topics.charges,
            ThrottleEvent: topics.throttle,
            NotificationEvent: topics.notifications,
            UnratedEvent: topics.unrated,
        }

    # -- decode and check --------------------------------------------------------------

    def arrive(self, m: InMessage, now: int) -> Arrival:
        """A consumed message, decoded and checked, with its account key."""
        try:
            if m.topic == self.topics.usage:
                rec = self.codecs.decode_usage(m.value or b"")
                return self.checked(m, rec, m.key.decode() if m.key else rec.msisdn, now)
            cmd = self.codecs.decode_command(m.value or b"")
            if isinstance(cmd, Tick):
                return Arrival(cmd.time, m, cmd, None)
            return self.checked(m, cmd, m.key.decode() if m.key else account_key(cmd), now)
        except DecodeError as e:
            return Arrival(BAD, m, e, None)
        except UnicodeDecodeError:
            return Arrival(BAD, m, (ErrorClass.DECODE_ERROR, "message key is not UTF-8"), None)

    def checked(self, m: InMessage, item: Decoded, key: str | None, now: int) -> Arrival:
        """An input decoded elsewhere (offline: from a JSON line), checked as the stream
        checks what it decodes."""
        if isinstance(item, UsageRecord):
            problem = check_usage(item, now, self.max_future_ms)
            if problem is not None:
                return Arrival(BAD, m, problem, key)
            return Arrival(item.start_time, m, item, key)
        problem = check_command(item)
        if problem is not None:
            return Arrival(BAD, m, problem, key)
        return Arrival(item.time, m, item, key)

    def without(self, arrivals: list[Arrival], poison: PoisonInput) -> list[Arrival]:
        """The same arrivals, the poison one turned into a dead letter in its place."""
        bad = poison.arrival
        return [a if a is not bad else self.poisoned(a, poison) for a in arrivals]

    def poisoned(self, a: Arrival, poison: PoisonInput) -> Arrival:
        """An arrival the core raised on, as a dead letter (with its bytes, offline too)."""
        m = a.msg
        if m.value is None:
            it = a.item
            value = (
                self.codecs.encode_usage(it)
                if isinstance(it, UsageRecord)
                else self.codecs.encode_command(cast(Command | Tick, it))
            )
            m = m._replace(value=value)
        return Arrival(BAD, m, poison.dead_letter_reason(), a.key)

    # -- rate --------------------------------------------------------------------------

    def _dead(self, res: BatchResult, a: Arrival, error: DecodeError | tuple[str, str]) -> None:
        m = a.msg
        payload = m.value
        if payload is None:  # read decoded offline: the bytes `rater produce` would send
            it = a.item
            if isinstance(it, UsageRecord):
                payload = self.codecs.encode_usage(it)
            elif isinstance(it, (Tick, *COMMAND_TYPES)):
                payload = self.codecs.encode_command(cast(Command | Tick, it))
            else:
                payload = b""
        dl = dead_letter_for(
            payload,
            m.key,
            m.topic,
            m.partition,
            m.offset,
            error,
            m.timestamp,
            max_bytes=self.dead_letter_max_bytes,
        )
        res.dead_letters[dl.error_class] += 1
        res.outcomes[(m.topic, "dead_letter")] += 1
        res.dead.append(dl)
        res.out.append(
            OutMessage(self.topics.dead_letter, dl.key or b"", self.codecs.encode_dead_letter(dl))
        )

    def rate(
        self,
        arrivals: list[Arrival],
        load: Callable[[set[str]], dict[str, Account]],
        due: Callable[[int, int], list[str]],
        seen: Callable[[SeenKeys], dict[str, dict[int, set[int]]]] | None = None,
    ) -> BatchResult:
        """Rate a partition's arrivals, in the order given (`Aligner.release`).

        `seen`, given the batch's record keys per line and day, returns those the line
        already has (the store's duplicate buckets). The lines then hold only those keys
        in `Line.seen`: the core asks about no other, so a store need not read (or keep
        in memory) a line's whole window of keys. Without `seen`, the lines hold their
        whole window already (a store with `seen_in_lines`): nothing is asked, and the
        core drops the buckets that leave the window as `seen_changes` tells a store to.
        `due(until, limit)`: at most `limit` accounts with a change due by `until`, the
        earliest first.

        This runs once per record, so it is written for speed: one pass to collect the
        keys, one to rate, counters kept in locals and turned into labels at the end."""
        res = BatchResult()
        keys, usage, tick_at, first_tick = _collect(arrivals)
        if tick_at is not None:
            limit = self.tick_accounts
            due_now = due(tick_at, limit + 1)
            if len(due_now) > limit:
                # More accounts are due than a batch should hold (a clock that missed
                # days, a million subscribers): the first tick goes to the first
                # `limit` of them, and it comes back, with all that followed it, for
                # the next batch. An account is ticked once (its next change is then
                # later), so the events are those of one whole tick.
                res.held = arrivals[first_tick:]
                arrivals = arrivals[: first_tick + 1]
                keys, usage, tick_at, _ = _collect(arrivals)
                assert tick_at is not None
                due_now = due(tick_at, limit)
            keys.update(due_now)
        accounts = load(keys) if keys else {}
        usage_at_load: dict[str, int] = {}
        found: dict[str, dict[int, set[int]]] = {}
        if seen is not None:
            usage_at_load = {
                msisdn: line.last_usage
                for acct in accounts.values()
                for msisdn, line in acct.lines.items()
            }
            found = mark_seen(usage, accounts, seen)
        statuses: dict[tuple[str, Status], int] = {}
        changed = res.accounts
        events = res.events
        out = res.out
        lines = res.lines if self.as_lines else None
        topic_of = self._event_topic
        encode_event = self.encode_event
        apply = self.rater.apply
        # no output may be larger than the broker takes: it would stop the partition
        max_out = self.dead_letter_max_bytes
        for a in arrivals:
            m, it, akey = a.msg, a.item, a.key
            if a.time == BAD:
                self._dead(res, a, cast(DecodeError | tuple[str, str], it))
                continue
            if akey is None:  # a tick: every loaded account whose time has come
                for k in sorted(accounts):
                    due_acct = accounts[k]
                    before = due_acct.next_due
                    try:
                        tick_out = apply(due_acct, cast(Tick, it))
                    except Exception as e:
                        raise PoisonInput(a, e) from e
                    if tick_out.events or due_acct.next_due != before:
                        changed[k] = due_acct  # a rollover may change state silently
                    self._emit(res, tick_out.events)
                if not res.held:  # a tick not finished counts when it is
                    res.outcomes[(m.topic, "tick")] += 1
                continue
            item = cast(UsageRecord | Command, it)
            try:
                outcome = apply(accounts.get(akey), item)
            except Exception as e:  # a bug in the core: never a stalled partition
                raise PoisonInput(a, e) from e
            status = outcome.status
            if status is Status.UNKNOWN_SUBSCRIBER:
                self._dead(
                    res,
                    a,
                    (
                        ErrorClass.UNKNOWN_SUBSCRIBER,
                        f"no subscriber {item.msisdn[:40]} in account {akey[:40]}",
                    ),
                )
                continue
            acct = outcome.account
            if acct is not None:
                accounts[akey] = changed[akey] = acct
                if isinstance(item, NewSubscriber) and item.msisdn in acct.lines:
                    res.directory[item.msisdn] = akey
            counted = (m.topic, status)
            statuses[counted] = statuses.get(counted, 0) + 1
            evs = outcome.events
            if evs:
                events.extend(evs)
                for ev in evs:
                    value = encode_event(ev)
                    if len(value) > max_out:  # never reached with the input limits: a guard
                        raise PoisonInput(a, ValueError(f"an output of {len(value)} bytes"))
                    if lines is not None:
                        lines.append(value)
                    else:
                        out.append(new_out_message((topic_of[type(ev)], ev.msisdn.encode(), value)))
        for (topic, st), n in statuses.items():
            res.outcomes[(topic, st.lower())] += n
        if seen is None:  # the lines keep their buckets, which the core keeps to the window
            return res
        window = self.rater.rt.duplicate_window_ms
        for acct in changed.values():
            seen_changes(res.seen, acct, usage_at_load, found, window)
        return res

    def _emit(self, res: BatchResult, events: list[Event]) -> None:
        res.events.extend(events)
        topic_of, encode_event = self._event_topic, self.encode_event
        if self.as_lines:
            res.lines.extend(map(encode_event, events))
            return
        res.out.extend(
            new_out_message((topic_of[type(e)], e.msisdn.encode(), encode_event(e))) for e in events
        )


def _collect(arrivals: list[Arrival]) -> tuple[set[str], list[Arrival], int | None, int]:
    """The account keys the arrivals touch, the usage among them, the latest tick's time
    (None: no tick) and the first tick's index."""
    keys: set[str] = set()
    usage: list[Arrival] = []
    tick_at: int | None = None
    first_tick = -1
    for i, a in enumerate(arrivals):
        it = a.item
        if type(it) is UsageRecord:
            usage.append(a)
            keys.add(cast(str, a.key))
        elif a.key is not None:
            keys.add(a.key)
        elif type(it) is Tick:
            if tick_at is None:
                tick_at, first_tick = it.time, i
            elif it.time > tick_at:
                tick_at = it.time
    return keys, usage, tick_at, first_tick
