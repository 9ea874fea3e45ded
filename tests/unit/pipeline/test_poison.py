"""An input on which the rating core raises (a bug) never stalls anything and never
half-applies: it becomes a RATING_ERROR dead letter in its place, and every other input
rates exactly as in a run without it, in the stream's partition batches (re-rated from
the store) and offline (the run starts over)."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import orjson

from rater.catalog import load_catalog
from rater.core.engine import Input, Outcome, Rater
from rater.core.inputs import UsageRecord
from rater.core.state import Account
from rater.jobs.offline import rate_offline, read_usage
from rater.subscribers import load_subscribers, to_commands

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
USAGE = EXAMPLES / "usage-basic.jsonl"
POISON = "ex4-overage"  # a record of a line that rates other records before and after


class BuggyRater(Rater):
    """The real core, except that it changes the account and then raises on one record."""

    def apply(self, account: Account | None, item: Input) -> Outcome:
        if isinstance(item, UsageRecord) and item.record_id == POISON:
            assert account is not None
            super().apply(account, item)  # half the work done...
            raise ZeroDivisionError("a bug")  # ...then the bug
        return super().apply(account, item)


def _run(rater: Rater, skip: str | None = None) -> tuple[set[bytes], list[dict[str, Any]]]:
    cmds = to_commands(load_subscribers(EXAMPLES / "subscribers-basic.yaml"))
    records = [
        r for r in read_usage(USAGE) if not (isinstance(r, UsageRecord) and r.record_id == skip)
    ]
    events, dead = io.BytesIO(), io.BytesIO()
    rate_offline(rater, cmds, records, None, events, dead)
    return set(events.getvalue().splitlines()), [
        orjson.loads(x) for x in dead.getvalue().splitlines()
    ]


def test_offline_the_poison_record_is_dead_lettered_and_the_rest_rated_as_without_it() -> None:
    catalog = load_catalog(EXAMPLES / "catalog-basic.yaml")
    events, dead = _run(BuggyRater(catalog))
    clean_events, clean_dead = _run(Rater(catalog), skip=POISON)
    # the duplicate delivery of the poison record id is rated as a first sight then
    # (its original was never charged): compare everything else
    assert {e for e in events if POISON.encode() not in e} == {
        e for e in clean_events if POISON.encode() not in e
    }
    rating_errors = [d for d in dead if d["error_class"] == "RATING_ERROR"]
    assert len(rating_errors) == 2  # the record and its duplicate delivery
    assert all("ZeroDivisionError: a bug" in str(d["error"]) for d in rating_errors)
    assert all(d["payload_length"] > 0 for d in rating_errors)
    assert len(dead) == len(clean_dead) + 2


def _stream_partition(rater: Rater, skip: str | None = None) -> tuple[set[bytes], Account, int]:
    """One partition as the stream drives it: commands, then the usage as Avro
    messages in one batch, over an isolated memory store (what Redis gives back)."""
    from rater.codec import avro
    from rater.config import Topics
    from rater.pipeline.batch import BatchRater
    from rater.pipeline.messages import InMessage
    from rater.pipeline.partition import PartitionRun
    from rater.store.memory import MemoryStore

    topics = Topics()
    store = MemoryStore(isolated=True)
    run = PartitionRun(0, store.claim(0), {})
    batch = BatchRater(rater, topics, 24 * 3_600_000)
    msgs: list[InMessage] = []
    for i, c in enumerate(to_commands(load_subscribers(EXAMPLES / "subscribers-basic.yaml"))):
        if c.msisdn == "13800000001":
            msgs.append(
                InMessage(topics.commands, 0, i, c.msisdn.encode(), avro.encode_command(c), 0)
            )
    usage = [
        r
        for r in read_usage(USAGE)
        if isinstance(r, UsageRecord) and r.msisdn == "13800000001" and r.record_id != skip
    ]
    now = int(time.time() * 1000)
    run.push(batch, msgs, topics.usage, now)  # batch 1: the subscriber, committed
    prepared = run.prepare(batch, store, usage_done=True, commands_done=True)
    assert prepared is not None
    run.committed(prepared, store.commit(0, prepared.commit))
    msgs = [
        InMessage(topics.usage, 0, i, r.msisdn.encode(), avro.encode_usage(r), 0)
        for i, r in enumerate(usage)
    ]
    run.push(batch, msgs, topics.usage, now)  # batch 2: its usage, from the cached account
    prepared = run.prepare(batch, store, usage_done=True, commands_done=True)
    assert prepared is not None
    run.committed(prepared, store.commit(0, prepared.commit))
    out = {v for t, _, v in prepared.result.out if t != topics.dead_letter}
    acct = store.load(0, ["13800000001"])["13800000001"]
    return out, acct, prepared.result.dead_letters["RATING_ERROR"]


def test_in_a_stream_batch_the_poison_record_is_dead_lettered_and_the_batch_re_rated() -> None:
    catalog = load_catalog(EXAMPLES / "catalog-basic.yaml")
    out, acct, errors = _stream_partition(BuggyRater(catalog))
    clean_out, clean_acct, clean_errors = _stream_partition(Rater(catalog), skip=POISON)
    assert errors == 2 and clean_errors == 0
    assert out == clean_out  # every other record's events, byte for byte
    assert acct.to_dict(with_seen=False) == clean_acct.to_dict(with_seen=False)


def test_an_output_larger_than_the_broker_takes_is_never_sent() -> None:
    """A guard behind the input limits: an input whose output would exceed the limit is
    dead-lettered instead, its effect undone, and the partition goes on."""
    from rater.codec.jsonl import event_line_bytes
    from rater.config import Topics
    from rater.pipeline.batch import BatchRater
    from rater.pipeline.messages import InMessage
    from rater.pipeline.partition import PartitionRun
    from rater.store.memory import MemoryStore

    def encode(e: object) -> bytes:  # an event of the poison record encodes huge
        line = event_line_bytes(e)  # type: ignore[arg-type]
        return line * 100_000 if POISON.encode() in line else line

    catalog = load_catalog(EXAMPLES / "catalog-basic.yaml")
    store = MemoryStore(isolated=True)
    run = PartitionRun(0, store.claim(0), {})
    batch = BatchRater(Rater(catalog), Topics(), 24 * 3_600_000, encode_output=encode)
    job_inputs = [
        c
        for c in to_commands(load_subscribers(EXAMPLES / "subscribers-basic.yaml"))
        if c.msisdn == "13800000001"
    ]
    from rater.codec import avro

    t = Topics()
    msgs = [
        InMessage(t.commands, 0, i, b"13800000001", avro.encode_command(c), 0)
        for i, c in enumerate(job_inputs)
    ]
    msgs += [
        InMessage(t.usage, 0, i, b"13800000001", avro.encode_usage(r), 0)
        for i, r in enumerate(
            r for r in read_usage(USAGE) if isinstance(r, UsageRecord) and r.msisdn == "13800000001"
        )
    ]
    run.push(batch, msgs, t.usage, int(time.time() * 1000))
    prepared = run.prepare(batch, store, usage_done=True, commands_done=True)
    assert prepared is not None
    assert prepared.result.dead_letters["RATING_ERROR"] == 2
    assert all(len(v) <= batch.dead_letter_max_bytes for _, _, v in prepared.result.out)
    assert any(b"ex7-call" in v for _, _, v in prepared.result.out)  # later records rated
