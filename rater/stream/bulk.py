"""`rater load --bulk`: a new deployment's subscribers applied at bulk speed, through
the same commands, the same pipeline and the same store writes as `rater run`.

The commands still go onto the command topic, where `rater record`, replay and audits
find them. Instead of a consumer reading them back a message at a time, the loader keeps
what it sent, with the offsets and timestamps the broker gave it. It then rates each
partition's commands with `PartitionRun` and `BatchRater`, in a few large batches, and
writes each batch with `RedisStore.commit`: the same Lua script (epoch, watermark,
accounts, outputs), so the state is the one `rater run` would have written. The
outputs and the group's offsets (equal to the new watermarks) are then committed in one
Kafka transaction. That is steps 3-5 of a stream batch (docs/exactly-once.md) without
the consumer. `rater run`, started afterwards, finds every partition settled. If the
loader dies between a Redis write and its Kafka commit, `rater run` recovers that batch
as after any crash: it re-emits the stored outputs with the offsets, never re-rating.

Bootstrap only: every input partition must be empty on the broker and in Redis (no
watermark) and the group must have no committed offsets. Otherwise the loader refuses
and sends nothing. A command topic that already holds commands must be applied in
order by `rater run`.
"""

from __future__ import annotations

import multiprocessing
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
from rater.errors import Refused
from rater.gc_tuning import offline_gc
from rater.pipeline.batch import BatchRater
from rater.pipeline.messages import OutMessage, new_in_message
from rater.pipeline.partition import PartitionRun, Prepared
from rater.routing import Router
from rater.store.redis import RedisStore, settings_client
from rater.stream.commits import produce_messages
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
    seconds: dict[str, float] = field(default_factory=dict)  # wall time per step


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
        t1 = time.perf_counter()
        by_part = _send(s, commands, n_parts)
        res.commands = sum(len(v) for v in by_part.values())  # ticks counted per partition
        t2 = time.perf_counter()
        res.seconds = {"checks": t1 - t0, "send": t2 - t1}
    finally:
        consumer.close()
    res.partitions = len(by_part)
    res.applied, res.outputs = _apply(s, rater, store, by_part, workers)
    res.seconds["apply"] = time.perf_counter() - t0 - sum(res.seconds.values())
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


def _send(s: Settings, commands: Iterable[Command | Tick], n: int) -> dict[int, list[Sent]]:
    """Produce the commands as `rater.stream.tools.produce_commands` does, and note each
    one's offset and timestamp from its delivery report (an idempotent producer reports
    a partition's messages in the order sent)."""
    codecs = wire_codecs(s)
    router = Router(n)
    topic = s.topics.commands
    by_part: dict[int, list[Sent]] = {p: [] for p in range(n)}
    reports: dict[int, list[tuple[int, int]]] = {p: [] for p in range(n)}
    errors: list[KafkaError] = []

    def delivered(err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            errors.append(err)
        else:
            reports[msg.partition() or 0].append((msg.offset() or 0, msg.timestamp()[1]))

    p = Producer(producer_config(s) | {"enable.idempotence": True, "on_delivery": delivered})
    for c in commands:
        value = codecs.encode_command(c)
        if isinstance(c, Tick):
            targets: Sequence[tuple[bytes, int]] = [(b"", part) for part in range(n)]
        else:
            key, part = router.route(c)
            targets = [(key.encode(), part)]
        for key_b, part in targets:
            while True:
                try:
                    p.produce(topic, value, key_b, partition=part)
                    break
                except BufferError:
                    p.poll(0.1)
            by_part[part].append(Sent(c, key_b, value))
    left = p.flush(60)
    if left or errors:
        raise RuntimeError(
            f"{left} commands not delivered to Kafka"
            + (f": {errors[0]}" if errors else "")
            + "; nothing was applied: run rater run to apply those that were"
        )
    for part, sent in by_part.items():
        for cmd, (offset, ts) in zip(sent, reports[part], strict=True):
            cmd.offset, cmd.timestamp = offset, ts
    return by_part


def _apply(
    s: Settings,
    rater: Rater,
    store: RedisStore,
    by_part: dict[int, list[Sent]],
    workers: int,
) -> tuple[int, int]:
    """Rate and write every partition; (inputs applied, outputs committed). With
    `workers` > 1, forked processes share the partitions (one core each: the rating
    is Python), each with its own producer, transactional id and Redis connection.

    No cyclic collection while rating (as the offline jobs rate): a round's accounts
    are freed by reference counting when the round ends, and the collections would only
    walk them (6 % of a process's time at 300 000 subscribers)."""
    if workers <= 1 or len(by_part) <= 1:
        with offline_gc():
            return _apply_parts(s, rater, store, by_part, 0)
    ctx = multiprocessing.get_context("fork")  # the commands are shared, not pickled
    results = ctx.Queue()
    procs = []
    for i in range(workers):
        mine = {p: v for p, v in by_part.items() if p % workers == i}

        def work(mine: dict[int, list[Sent]] = mine, i: int = i) -> None:
            own = RedisStore(settings_client(s), store.ns)
            with offline_gc():
                results.put(_apply_parts(s, rater, own, mine, i))

        proc = ctx.Process(target=work, name=f"rater-bulk-{i}")
        proc.start()
        procs.append(proc)
    for proc in procs:
        proc.join()
    failed = [proc.name for proc in procs if proc.exitcode != 0]
    if failed:
        raise RuntimeError(
            f"bulk load worker(s) {', '.join(failed)} failed (see above); what they "
            "wrote is consistent: rater run recovers it and applies the rest"
        )
    done = [results.get() for _ in procs]
    return sum(a for a, _ in done), sum(o for _, o in done)


def _apply_parts(
    s: Settings, rater: Rater, store: RedisStore, by_part: dict[int, list[Sent]], worker: int
) -> tuple[int, int]:
    """Rate and write in rounds of one chunk per partition: a round's Redis writes (on a
    writer thread, while the next partition is rated), then its outputs and offsets in
    one Kafka transaction, before the next round's writes (Redis keeps the outputs of
    one batch per partition)."""
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
    consumer = Consumer(consumer_config(s))  # never subscribes: the group's metadata only
    producer = Producer(producer_config(s, f"{s.group_id}-bulk-{worker}"))
    producer.init_transactions(30)
    writer = ThreadPoolExecutor(1, thread_name_prefix="rater-bulk-redis")
    applied = outputs = 0
    try:
        group = consumer.consumer_group_metadata()
        rounds = max((len(v) + CHUNK - 1) // CHUNK for v in by_part.values())
        r = 0
        # past the rounds, while a tick is left half applied (BatchRater.rate)
        while r < rounds or any(run.unfinished for run in runs.values()):
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
                offsets.append(TopicPartition(topic, run.n, prepared.watermark[topic]))
                applied += prepared.applied
            producer.begin_transaction()
            produce_messages(producer, outs)
            producer.send_offsets_to_transaction(offsets, group, 30)
            producer.commit_transaction(30)
            outputs += len(outs)
            for run in runs.values():  # no cache kept: rater run starts its own
                run.accounts.clear()
                run.cold.clear()
            r += 1
    finally:
        writer.shutdown(wait=True)
        consumer.close()
    return applied, outputs
