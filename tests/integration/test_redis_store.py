"""The Redis store's two-part account on a real Redis: the hot counters are written with
every change, the cold part only when it changed, and an account stored whole (before
the split) still reads back."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import orjson
import pytest
import redis

from rater.core.duplicates import record_key
from rater.core.state import Account, Bucket, Line, split_hot
from rater.store.base import PartitionCommit, SeenChange
from rater.store.redis import RedisStore
from rater.stream.tools import delete_namespace


@pytest.fixture
def store(redis_url: str) -> Iterator[RedisStore]:
    client = redis.Redis.from_url(redis_url)
    s = RedisStore(client, f"it-store-{uuid.uuid4().hex[:8]}")
    try:
        yield s
    finally:
        delete_namespace(client, s.ns)
        client.close()


def _account() -> Account:
    line = Line("13800000001", "13800000001", "P58", 1, "GD", 0, cycle_id="2026-04-01")
    line.buckets = [Bucket("P58.data#1", "P58", "plan", "data", 3 << 30, 0, 0, 1 << 42)]
    acct = Account("13800000001", {line.msisdn: line}, clock=1, next_due=100)
    return acct


def _commit(store: RedisStore, acct: Account, wm: int, cold: dict[str, bytes]) -> dict[str, bytes]:
    batch = PartitionCommit(1, {"usage": (wm, wm + 1)}, {acct.key: acct}, {}, b"", {}, cold)
    return store.commit(0, batch)


def test_only_the_hot_counters_are_written_while_the_cold_part_is_unchanged(
    store: RedisStore,
) -> None:
    store.claim(0)
    acct = _account()
    cold: dict[str, bytes] = {}
    cold.update(_commit(store, acct, 0, cold))
    assert list(cold) == [acct.key]  # a new account: cold part written

    acct.clock, acct.lines["13800000001"].buckets[0].used = 5, 1234  # hot only
    assert _commit(store, acct, 1, cold) == {}
    loaded: dict[str, bytes] = {}
    back = store.load(0, [acct.key], loaded)[acct.key]
    assert back.to_dict() == acct.to_dict()
    assert loaded == cold  # what load remembers is what commit compares with

    acct.next_due = 200  # cold: written again, and the due time with it
    assert list(_commit(store, acct, 2, cold)) == [acct.key]
    assert store.due_keys(0, 150) == []
    assert store.due_keys(0, 200) == [acct.key]
    assert store.load(0, [acct.key])[acct.key].to_dict() == acct.to_dict()


def test_an_account_without_its_hot_counters_is_refused_by_name(store: RedisStore) -> None:
    """The commit script writes an account's two keys together; a cold key alone is
    not a state the rater wrote, and reading it says so instead of guessing."""
    store.claim(0)
    acct = _account()
    d = acct.to_dict(with_seen=False)
    store.r.set(f"{store.tag(0)}:a:{acct.key}", orjson.dumps(d))
    with pytest.raises(ValueError, match="has no hot counters"):
        store.load(0, [acct.key])


def _with_buckets(store: RedisStore) -> tuple[Account, str, int, tuple[int, int, int]]:
    """An account committed with records a and b on day d of its line m, c on day d + 1:
    (the account, m, d, the keys of a, b and c)."""
    store.claim(0)
    acct = _account()
    m, d = "13800000001", 20550
    a, b, c = (record_key(r) for r in ("a", "b", "c"))
    seen = {m: SeenChange({d: [a, b], d + 1: [c]}, [])}
    store.commit(0, PartitionCommit(1, {"usage": (0, 1)}, {acct.key: acct}, {}, b"", seen))
    return acct, m, d, (a, b, c)


def test_the_duplicate_buckets_are_asked_about_a_batch_and_read_whole_only_on_request(
    store: RedisStore,
) -> None:
    acct, m, d, (a, b, c) = _with_buckets(store)
    asked = {m: {d: [a, c], d + 1: [c]}, "13800000002": {d: [a]}}
    assert store.seen_among(0, asked) == {m: {d: {a}, d + 1: {c}}}
    assert store.load(0, [acct.key])[acct.key].lines[m].seen == {}
    assert store.load(0, [acct.key], with_seen=True)[acct.key].lines[m].seen == {
        d: {a, b},
        d + 1: {c},
    }
    # a bucket is a set of integers, which Redis keeps as an intset: 8 bytes a key
    bucket = f"{store.tag(0)}:seen:{m}:{d}"
    assert store.r.object("encoding", bucket) == b"intset"
    # a day that leaves the window is deleted
    seen = {m: SeenChange({}, [d])}
    store.commit(0, PartitionCommit(1, {"usage": (1, 2)}, {}, {}, b"", seen))
    assert not store.r.exists(bucket)
    assert store.seen_among(0, asked) == {m: {d + 1: {c}}}


def test_a_batch_of_thousands_of_accounts_is_written_whole(store: RedisStore) -> None:
    """The script writes many accounts, due times and directory entries per call, in
    chunks (Lua's stack bounds a call's arguments): a batch larger than several chunks,
    cold parts changed for some accounts only, reads back exactly."""
    store.claim(0)
    n = 2_501  # more than two chunks of 1 000 accounts, and not a multiple of one
    accts: dict[str, Account] = {}
    for i in range(n):
        a = _account()
        line = a.lines.pop("13800000001")
        line.msisdn = line.account = f"1390000{i:04d}"
        a.lines[line.msisdn] = line
        a.key, a.next_due = line.msisdn, 1_000 + i
        accts[a.key] = a
    directory = {k: k for k in accts}
    cold = store.commit(0, PartitionCommit(1, {"usage": (0, 1)}, accts, directory, b"", {}, {}))
    assert len(cold) == n
    for i, a in enumerate(accts.values()):  # hot counters of all, cold of every third
        a.lines[a.key].buckets[0].used = i
        if i % 3 == 0:
            a.next_due = 10_000 + i
    written = store.commit(0, PartitionCommit(1, {"usage": (1, 2)}, accts, {}, b"", {}, cold))
    assert len(written) == len(range(0, n, 3))
    back = store.load(0, list(accts))
    assert {k: a.to_dict() for k, a in back.items()} == {k: a.to_dict() for k, a in accts.items()}
    due = [a.key for a in sorted(accts.values(), key=lambda a: a.next_due) if a.next_due < 9_000]
    assert store.due_keys(0, 8_999) == due
    stored = store.r.hgetall(f"{store.tag(0)}:dir")
    assert {m.decode(): k.decode() for m, k in stored.items()} == directory


def test_a_day_of_record_keys_costs_about_8_bytes_a_record(store: RedisStore) -> None:
    """The bucket of a line's day at 100 records: what bounds the memory per subscriber
    (rater bench state measures the whole state)."""
    store.claim(0)
    m, d = "13800000001", 20550
    keys = [record_key(f"rec-{n:06d}-of-a-31-character-id") for n in range(100)]
    store.commit(0, PartitionCommit(1, {}, {}, {}, b"", {m: SeenChange({d: keys}, [])}))
    used = store.r.memory_usage(f"{store.tag(0)}:seen:{m}:{d}")
    assert 800 <= used < 1000, used  # a set of 100 record ids as strings: about 9 KB


def test_reads_made_ahead_answer_as_the_store_does_also_after_a_restart(
    store: RedisStore,
) -> None:
    """One round trip for a batch's reads (rater.store.readahead) gives the same accounts
    and the same duplicate answers as `load` and `seen_among`; a Redis that lost its
    scripts (restarted) is sent the read script again."""
    acct, m, d, (a, _, c) = _with_buckets(store)
    asked = {m: {d: [a, c, a], d + 1: [c]}, "13800000002": {d: [a]}}
    for _ in ("warm", "after SCRIPT FLUSH"):
        views = store.read_ahead({0: ([acct.key, "nobody"], asked), 1: ([], {})})
        assert list(views) == [0]  # partition 1 had nothing to read
        cold: dict[str, bytes] = {}
        got = views[0].load(0, [acct.key, "nobody"], cold)
        assert {k: v.to_dict() for k, v in got.items()} == {acct.key: acct.to_dict()}
        assert list(cold) == [acct.key]
        assert views[0].seen_among(0, asked) == store.seen_among(0, asked)
        assert store.seen_among(0, asked) == {m: {d: {a}, d + 1: {c}}}
        store.r.script_flush()


def test_an_account_stored_as_json_before_the_upgrade_reads_back_and_is_rewritten_compact(
    store: RedisStore,
) -> None:
    """Accounts written by a rater that stored JSON stay readable after an upgrade, and
    the first batch that touches one writes it in the compact form (rater.store.accounts)."""
    store.claim(0)
    acct = _account()
    d = acct.to_dict(with_seen=False)
    hot = split_hot(d)
    cold_key, hot_key = f"{store.tag(0)}:a:{acct.key}", f"{store.tag(0)}:h:{acct.key}"
    store.r.set(cold_key, orjson.dumps(d))
    store.r.set(hot_key, orjson.dumps(hot))
    remembered: dict[str, bytes] = {}
    back = store.load(0, [acct.key], remembered)[acct.key]
    assert back.to_dict() == acct.to_dict()

    back.lines["13800000001"].buckets[0].used = 77  # a record drew from the plan
    written = _commit(store, back, 0, remembered)
    assert list(written) == [acct.key]  # the cold part too: its stored bytes were JSON
    for key in (cold_key, hot_key):
        assert not store.r.get(key).startswith(b"{")
    assert len(store.r.get(cold_key)) * 2 < len(orjson.dumps(d))
    assert store.load(0, [acct.key])[acct.key].to_dict() == back.to_dict()
