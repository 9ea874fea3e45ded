"""The stream on a Redis Cluster of 3 masters: the same events and balances as
`rater simulate`, and every commit atomic on one node (all its keys in one hash slot).

The cluster is `scripts/redis.sh cluster-start` on free ports (tests/faults/servers.py),
of this module's own; `REDIS_CLUSTER_URL` points the test at another one.
"""

from __future__ import annotations

import io
import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from redis.crc import key_slot

from rater.catalog import load_catalog
from rater.codec.jsonl import event_from_json
from rater.core.engine import Rater
from rater.core.events import ChargeEvent, Event
from rater.jobs.offline import rate_offline
from rater.store.redis import RedisStore, redis_client
from rater.stream.processor import StreamRater
from rater.stream.tools import account_keys, produce_commands, produce_usage, read_events, send_tick
from rater.subscribers import parse_subscribers, to_commands
from rater.workload import subscribers as gen_subscribers
from rater.workload import usage as gen_usage
from tests.faults.servers import start_cluster
from tests.integration import streamkit
from tests.integration.test_stream_vs_simulator import CATALOG, END, START, UNTIL, canon


@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`REDIS_CLUSTER_URL`, or a cluster of this module's own on free ports (no other
    test run that starts or stops one can take it away mid-test), removed afterwards."""
    env = os.environ.get("REDIS_CLUSTER_URL")
    if env:
        yield env
        return
    cluster = start_cluster(tmp_path_factory.mktemp("cluster"))
    try:
        yield cluster.url
    finally:
        cluster.remove()


class SlotCheckingStore(RedisStore):
    """The Redis store, recording the hash slots of the keys of every commit script."""

    def __init__(self, client: Any, namespace: str) -> None:
        super().__init__(client, namespace)
        self.commit_slots: list[set[int]] = []
        script = self._commit

        def commit(keys: list[str], args: list[Any]) -> Any:
            self.commit_slots.append({key_slot(k.encode()) for k in keys})
            return script(keys=keys, args=args)

        self._commit = commit


def test_the_stream_on_a_cluster_equals_the_simulator_and_commits_in_one_slot(
    kafka_bootstrap: str, cluster_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("REDIS_URL", "RATER_REDIS_URL"):  # the cluster, not the shared server
        monkeypatch.delenv(name, raising=False)
    catalog = load_catalog(CATALOG)
    subs = gen_subscribers(catalog, 300, START - 35 * 86_400_000, seed=17)
    commands = to_commands(parse_subscribers({"subscribers": subs}))
    records = list(gen_usage(catalog, subs, 20_000, START, END, seed=18))
    s = streamkit.run_settings(
        kafka_bootstrap, cluster_url, "cl", catalog=CATALOG, partitions=4, redis_cluster=True
    )
    sim_out = io.BytesIO()
    _, offline = rate_offline(
        Rater(catalog), commands, records, UNTIL, sim_out, partitions=s.partitions, topics=s.topics
    )
    sim_events = [event_from_json(orjson.loads(x)) for x in sim_out.getvalue().splitlines()]

    client = redis_client(cluster_url, cluster=True)
    store = SlotCheckingStore(client, s.namespace)
    streamkit.create_topics(s)  # removed after the test, keys too (conftest.clean_stream_runs)
    produce_commands(s, commands)
    _drain(s, catalog, store)
    produce_usage(s, records, account_keys(commands))
    _drain(s, catalog, store)
    send_tick(s, UNTIL)
    _drain(s, catalog, store)
    stream_events = read_events(s)

    # every commit: one script, all its keys in one hash slot (atomic on one node),
    # and the partitions spread over the masters
    assert store.commit_slots
    assert all(len(slots) == 1 for slots in store.commit_slots)
    used = {next(iter(slots)) for slots in store.commit_slots}
    nodes = {client.get_node_from_key(f"{{{s.namespace}:{p}}}").name for p in range(4)}
    assert len(used) == s.partitions and len(nodes) >= 2

    # the same events, none twice, and the same balances
    sim_by_id = {e.event_id: canon(e) for e in sim_events}
    ids = Counter(e.event_id for e in stream_events)
    assert ids.most_common(1)[0][1] == 1, "an event was written twice"
    assert set(ids) == set(sim_by_id)
    assert all(canon(e) == sim_by_id[e.event_id] for e in stream_events)
    assert _fen(stream_events) == _fen(sim_events)
    for key, acct in offline.accounts().items():
        found = [p for p in range(s.partitions) if store.account_key(p, key) is not None]
        assert len(found) == 1, key
        stored = store.load(found[0], [key], with_seen=True)[key]
        assert stored.to_dict()["lines"] == acct.to_dict()["lines"], key


def _drain(s: Any, catalog: Any, store: RedisStore) -> None:
    StreamRater(s, Rater(catalog, s.duplicate_window_ms), store).run(drain=True)


def _fen(events: list[Event]) -> Counter[str]:
    c: Counter[str] = Counter()
    for e in events:
        if isinstance(e, ChargeEvent):
            c[e.msisdn] += e.fen
    return c
