"""Remove the topics, consumer group and Redis namespace of earlier demo runs, keeping
the newest `--keep` (their settings files in var/demo say what each run made), so that
running the demo again and again does not pile up topics and keys on the local servers.

Only runs named `demo-*` with a settings file under the given folder are touched."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

import redis
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from rater.config import ConfigError, load_settings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("folder", type=Path)
    ap.add_argument("--keep", type=int, default=1)
    args = ap.parse_args()
    runs = sorted(args.folder.glob("demo-*.yaml"))
    old = runs[: max(0, len(runs) - args.keep)]
    for conf in old:
        try:
            s = load_settings(conf)
        except ConfigError as e:
            print(f"skipped {conf}: {e}")
            continue
        if not s.namespace.startswith("demo-"):
            print(f"skipped {conf}: namespace {s.namespace} is not a demo's")
            continue
        admin = AdminClient({"bootstrap.servers": s.kafka_bootstrap_servers})
        for fut in admin.delete_topics(
            s.topics.inputs() + s.topics.outputs(), operation_timeout=30
        ).values():
            with contextlib.suppress(KafkaException):
                fut.result()
        with contextlib.suppress(KafkaException):
            for fut in admin.delete_consumer_groups([s.group_id], request_timeout=10).values():
                fut.result()
        client = redis.Redis.from_url(s.redis_url.get_secret_value())
        keys = list(client.scan_iter(match=f"{{{s.namespace}:*", count=1000))
        for i in range(0, len(keys), 500):
            client.delete(*keys[i : i + 500])
        client.close()
        conf.unlink()
        print(f"removed the earlier demo run {s.namespace} ({len(keys)} Redis keys)")


if __name__ == "__main__":
    main()
