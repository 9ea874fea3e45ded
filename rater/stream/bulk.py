"""`rater load --bulk`: a new deployment's subscribers applied at bulk speed, through
the same commands, the same pipeline and the same store writes as `rater run`.

The commands still go onto the command topic, where `rater record`, replay and audits
find them. Instead of a consumer reading them back a message at a time, the loader keeps
what it sent, with the offsets and timestamps the broker gave it. Each loading process
sends its own partitions' commands, a round ahead of its rating (the broker takes round
r + 1 while round r is rated), and rates each partition's commands with `PartitionRun`
and `BatchRater`, in a few large batches, and writes each batch with
`RedisStore.commit`: the same Lua script (epoch, watermark, accounts, outputs), so the
state is the one `rater run` would have written. The outputs and the group's offsets
(equal to the new watermarks) are then committed in one Kafka transaction. That is steps
3-5 of a stream batch (docs/exactly-once.md) without the consumer. `rater run`, started
afterwards, finds every partition settled. If the loader dies between a Redis write and
its Kafka commit, `rater run` recovers that batch as after any crash: it re-emits the
stored outputs with the offsets, never re-rating.

Bootstrap only: every input partition must be empty on the broker and in Redis (no
watermark) and the group must have no committed offsets. Otherwise the loader refuses
and sends nothing. A command topic that already holds commands must be applied in order
by `rater run`.
"""

from __future__ import annotations

import multiprocessing
import sys
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from rater.codec.codecs import wire_codecs
from rater.config import Settings
from rater.core.engine import Rater
from rater.core.inputs import Command, Tick
from rater.errors import UNAVAILABLE, Refused, Unavailable, describe
from rater.gc_tuning import offline_gc
from rater.pipeline.batch import BatchRater
from rater.pipeline.messages import OutMessage, new_in_message
from rater.pipeline.partition import PartitionRun, Prepared
from rater.routing import Router
from rater.store.redis import RedisStore, settings_client
from rater.stream.commits import batch_offsets, produce_messages
from rater.stream.kafka import consumer_config, partition_count, producer_config

# commands per partition rated and written as one batch (one Lua script, one share of a
# Kafka transaction): large enough that per-batch costs vanish, small enough that a
# script does not block Redis for long (about 15 µs a new account)
CHUNK = 20_000


@dataclass(slots=True)
class Sent:
    """One command as the broker took it."""

    item: Command | Tick
    key: bytes
    value: bytes
    offset: int = -1
    timestamp: int = 0


@dataclass(slots=True)
class BulkResult:
    commands: int = 0  # commands sent
    applied: int = 0  # inputs rated (ticks once per partition)
    outputs: int = 0  # output messages committed
    partitions: int = 0
    # wall seconds: "checks", "apply" (sending included), "wait" (the longest a
    # process waited for the broker's delivery reports, not hidden behind rating)
    seconds: dict[str, float] = field(default_factory=dict)


def bulk_load(
    s: Settings,
    rater: Rater,
    store: RedisStore,
    commands: Iterable[Command | Tick],
    workers: int = 1,
) -> BulkResult:
    """Send `commands` (in time order, as `rater load` does) and apply them at once,
    with `workers` processes sharing the partitions."""
    res = BulkResult()
    t0 = time.perf_counter()
    n_parts = partition_count(s, s.topics.commands)
    consumer = Consumer(consumer_config(s))  # never subscribes: group metadata only
    try:
        _refuse_unless_fresh(s, store, consumer, n_parts)
    finally:
        consumer.close()
    cmds = commands if isinstance(commands, Sequence) else list(commands)
    t1 = time.perf_counter()
    res.partitions = n_parts
    done = _apply(s, rater, store, cmds, n_parts, workers)
    res.commands = sum(d.commands for d in done)  # ticks counted per partition
    res.applied = sum(d.applied for d in done)
    res.outputs = sum(d.outputs for d in done)
    res.seconds = {
        "checks": t1 - t0,
        "apply": time.perf_counter() - t1,
        "wait": max(d.waited_s for d in done),
    }
    return res


def _refuse_unless_fresh(s: Settings, store: RedisStore, consumer: Consumer, n: int) -> None:
    topics = s.topics.inputs()
    tps = [TopicPartition(t, p) for t in topics for p in range(n)]
    busy: list[str] = []
    for tp in tps:
        high = _end(consumer, tp)
        if high > 0:
            busy.append(f"{tp.topic}[{tp.partition}] holds {high} messages")
    for tp in consumer.committed(tps, timeout=30):
        if tp.offset >= 0:
            busy.append(f"group {s.group_id} has offset {tp.offset} on {tp.topic}[{tp.partition}]")
    for p in range(n):
        wm, _ = store.watermark(p)
        if wm:
            busy.append(f"Redis namespace {s.namespace} partition {p} has watermark {wm}")
    if busy:
        raise Refused(
            "a bulk load is for a new deployment only (empty input topics, no state, no "
            f"offsets): {'; '.join(busy[:3])}{'; ...' if len(busy) > 3 else ''}. "
            "Load without --bulk: rater run applies the commands in order"
        )


def _end(consumer: Consumer, tp: TopicPartition, timeout_s: float = 30.0) -> int:
    """A partition's end offset; a topic created a moment ago may not have its leader
    yet (NOT_LEADER_FOR_PARTITION, LEADER_NOT_AVAILABLE): asked again until it has."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return int(consumer.get_watermark_offsets(tp, timeout=10, cached=False)[1])
        except KafkaException as e:
            err = e.args[0] if e.args else None
            transient = isinstance(err, KafkaError) and err.code() in _NO_LEADER_YET
            if not transient or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


_NO_LEADER_YET = (
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
)


@dataclass(slots=True)
class _Done:
    """What one loading process did."""

    commands: int = 0
    applied: int = 0
    outputs: int = 0
    waited_s: float = 0.0  # blocked on delivery reports, not hidden behind rating


def _own_commands(
    s: Settings, commands: Sequence[Command | Tick], n: int, mine: Sequence[int]
) -> dict[int, list[Sent]]:
    """The commands of partitions `mine`, encoded, in the order given. Every process
    routes every command: the router learns which account each new line joins from the
    commands before it, as `rater.stream.tools.produce_commands` does."""
    encode = wire_codecs(s).encode_command
    router = Router(n)
    by_part: dict[int, list[Sent]] = {p: [] for p in mine}
    for c in commands:
        if isinstance(c, Tick):
            value = encode(c)
            for sent in by_part.values():
                sent.append(Sent(c, b"", value))
            continue
        key, part = router.route(c)
        own = by_part.get(part)
        if own is not None:
            own.append(Sent(c, key.encode(), encode(c)))
    return by_part


class _Sender:
    """Produces a process's commands a round at a time and gives each its offset and
    timestamp from its delivery report (an idempotent producer reports a partition's
    messages in the order sent)."""

    def __init__(self, s: Settings, by_part: dict[int, list[Sent]]) -> None:
        self.topic = s.topics.commands
        self.by_part = by_part
        self.reports: dict[int, list[tuple[int, int]]] = {p: [] for p in by_part}
        self.errors: list[KafkaError] = []
        self.sent_rounds = 0
        self.waited_s = 0.0
        self.producer = Producer(
            producer_config(s) | {"enable.idempotence": True, "on_delivery": self._report}
        )

    def _report(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self.errors.append(err)
        else:
            self.reports[msg.partition() or 0].append((msg.offset() or 0, msg.timestamp()[1]))

    def send(self, r: int) -> None:
        """Hand round `r` (and any round before it not sent yet) to the producer."""
        p, topic = self.producer, self.topic
        while self.sent_rounds <= r:
            k = self.sent_rounds
            for part, sent in self.by_part.items():
                for c in sent[k * CHUNK : (k + 1) * CHUNK]:
                    while True:
                        try:
                            p.produce(topic, c.value, c.key, partition=part)
                            break
                        except BufferError:
                            p.poll(0.1)
            p.poll(0)
            self.sent_rounds += 1

    def delivered(self, r: int, timeout_s: float = 60.0) -> None:
        """Wait until every command of round `r` is on the broker, then note their
        offsets and timestamps."""
        self.send(r)
        t0 = time.perf_counter()
        deadline = time.monotonic() + timeout_s
        need = {p: min((r + 1) * CHUNK, len(sent)) for p, sent in self.by_part.items()}
        while not self.errors and any(len(self.reports[p]) < n for p, n in need.items()):
            if time.monotonic() > deadline:
                break
            self.producer.poll(0.05)
        self.waited_s += time.perf_counter() - t0
        short = sum(max(0, n - len(self.reports[p])) for p, n in need.items())
        if short or self.errors:
            raise Unavailable(
                f"{short} commands not delivered to Kafka"
                + (f": {self.errors[0]}" if self.errors else f" in {timeout_s:.0f} s")
                + "; the rounds before them were applied: run rater run to apply the "
                "commands delivered, then load the others again"
            )
        for p, sent in self.by_part.items():
            lo = r * CHUNK
            for c, (offset, ts) in zip(
                sent[lo : need[p]], self.reports[p][lo : need[p]], strict=True
            ):
                c.offset, c.timestamp = offset, ts

    def close(self) -> None:
        self.producer.flush(30)


def _apply(
    s: Settings,
    rater: Rater,
    store: RedisStore,
    commands: Sequence[Command | Tick],
    n: int,
    workers: int,
) -> list[_Done]:
    """Send, rate and write every partition. With `workers` > 1, forked processes share
    the partitions (one core each: the rating is Python), each with its own producers,
    transactional id and Redis connection.

    No cyclic collection while rating (as the offline jobs rate): a round's accounts
    are freed by reference counting when the round ends, and the collections would only
    walk them (6 % of a process's time at 300 000 subscribers)."""
    workers = max(1, min(workers, n))
    if workers == 1:
        with offline_gc():
            return [_apply_parts(s, rater, store, commands, n, range(n), 0)]
    ctx = multiprocessing.get_context("fork")  # the commands are shared, not pickled
    results = ctx.Queue()
    procs = []
    for i in range(workers):

        def work(i: int = i) -> None:
            try:
                own = RedisStore(settings_client(s), store.ns)
                with offline_gc():
                    results.put(_apply_parts(s, rater, own, commands, n, range(i, n, workers), i))
            except Exception as e:  # one line and an exit code, as the command line does
                code, line = describe(e, s.kafka_bootstrap_servers, s.redis_url.get_secret_value())
                print(f"error: bulk load process {i}: {line}", file=sys.stderr, flush=True)
                raise SystemExit(code) from None

        proc = ctx.Process(target=work, name=f"rater-bulk-{i}")
        proc.start()
        procs.append(proc)
    for proc in procs:
        proc.join()
    failed = [proc for proc in procs if proc.exitcode != 0]
    if failed:
        what = (
            f"bulk load process(es) {', '.join(p.name for p in failed)} stopped (see above); "
            "what they wrote is consistent: rater run recovers it and applies the rest"
        )
        if all(p.exitcode == UNAVAILABLE for p in failed):
            raise Unavailable(what)
        raise RuntimeError(what)
    return [results.get() for _ in procs]


def _apply_parts(
    s: Settings,
    rater: Rater,
    store: RedisStore,
    commands: Sequence[Command | Tick],
    n: int,
    mine: Sequence[int],
    worker: int,
) -> _Done:
    """Send, rate and write partitions `mine` in rounds of one chunk per partition: the
    round's commands once the broker has them (the next round is sent meanwhile), its
    Redis writes (on a writer thread, while the next partition is rated), then its
    outputs and offsets in one Kafka transaction, before the next round's writes (Redis
    keeps the outputs of one batch per partition)."""
    by_part = _own_commands(s, commands, n, mine)
    batch = BatchRater(
        rater,
        s.topics,
        s.max_future_ms,
        codecs=wire_codecs(s),
        dead_letter_max_bytes=s.dead_letter_max_bytes,
        tick_accounts=s.tick_accounts_per_batch,
    )
    topic, usage_topic = s.topics.commands, s.topics.usage
    runs = {p: PartitionRun(p, store.claim(p), {}, s.account_cache) for p in by_part}
    sender = _Sender(s, by_part)
    consumer = Consumer(consumer_config(s))  # never subscribes: the group's metadata only
    producer = Producer(producer_config(s, f"{s.group_id}-bulk-{worker}"))
    producer.init_transactions(30)
    writer = ThreadPoolExecutor(1, thread_name_prefix="rater-bulk-redis")
    done = _Done(commands=sum(len(v) for v in by_part.values()))
    try:
        group = consumer.consumer_group_metadata()
        rounds = max((len(v) + CHUNK - 1) // CHUNK for v in by_part.values())
        r = 0
        # past the rounds, while a tick is left half applied (BatchRater.rate)
        while r < rounds or any(run.unfinished for run in runs.values()):
            if r < rounds:
                sender.send(r + 1)  # the broker takes it while this round is rated
                sender.delivered(r)
            pending: list[tuple[PartitionRun, Prepared, Future[dict[str, bytes]]]] = []
            for p, run in runs.items():
                todo = by_part[p][r * CHUNK : (r + 1) * CHUNK]
                if not todo and not run.unfinished:
                    continue
                now = batch.now_ms()
                for c in todo:
                    m = new_in_message((topic, p, c.offset, c.key, c.value, c.timestamp))
                    it = c.item
                    if isinstance(it, Tick):
                        a = batch.arrive(m, now)
                    else:
                        a = batch.checked(m, it, c.key.decode(), now)
                    run.push_arrival(a, usage_topic)
                prepared = run.prepare(batch, store, usage_done=True, commands_done=True)
                if prepared is not None:
                    pending.append((run, prepared, writer.submit(store.commit, p, prepared.commit)))
            outs: list[OutMessage] = []
            offsets: list[TopicPartition] = []
            for run, prepared, written in pending:
                run.committed(prepared, written.result())
                prepared.result.count_metrics()
                outs.extend(prepared.result.out)
                offsets += batch_offsets(run.n, [topic], prepared.watermark, run.seq)
                done.applied += prepared.applied
            producer.begin_transaction()
            produce_messages(producer, outs)
            producer.send_offsets_to_transaction(offsets, group, 30)
            producer.commit_transaction(30)
            done.outputs += len(outs)
            for run in runs.values():  # no cache kept: rater run starts its own
                run.accounts.clear()
                run.cold.clear()
            r += 1
    finally:
        writer.shutdown(wait=True)
        consumer.close()
        sender.close()
    done.waited_s = sender.waited_s
    return done
