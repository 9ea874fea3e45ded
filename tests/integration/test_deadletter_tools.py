"""`rater deadletters list | show | redrive` on the real broker: dead letters of valid
usage records are listed with filters, two are redriven by reason (their originals land
byte for byte in their source partitions, recorded on `<dead letter>.redriven`), a
second redrive sends nothing, and a truncated dead letter is refused."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import yaml
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient
from typer.testing import CliRunner

from rater.codec import avro
from rater.codec.deadletter import MIN_DEAD_LETTER_BYTES, DeadLetter, dead_letter_for
from rater.config import Settings
from rater.core.cycles import to_ms
from rater.core.inputs import Roaming, UsageRecord, UsageType
from rater.stream import deadletters as dl
from rater.stream.deadletters import Filter
from rater.stream.kafka import producer_config
from tests.integration import streamkit

pytestmark = pytest.mark.integration

T0 = to_ms("2026-04-10T10:00:00+08:00")
HOUR = 3_600_000


def _usage(rid: str, msisdn: str) -> UsageRecord:
    return UsageRecord(
        rid, msisdn, UsageType.DATA, T0, 60, 0, 3 << 20, None, None, "GD", "LTE",
        Roaming.HOME, None, 1,
    )  # fmt: skip


@pytest.fixture
def settings(kafka_bootstrap: str, redis_url: str) -> Iterator[Settings]:
    s = streamkit.make_settings(kafka_bootstrap, redis_url, "dltools", partitions=3)
    streamkit.RUNS.append(s)  # its topics are removed after the test
    streamkit.create_topics(s)
    yield s
    admin = AdminClient({"bootstrap.servers": s.kafka_bootstrap_servers})
    for fut in admin.delete_topics([dl.redrive_topic(s)], operation_timeout=30).values():
        with contextlib.suppress(KafkaException):
            fut.result(timeout=60)


def _produce(s: Settings, letters: list[tuple[int, DeadLetter]]) -> list[str]:
    """Dead letters onto their dead-letter partitions; their ids `P:O`, in order."""
    p = Producer(producer_config(s) | {"enable.idempotence": True})
    ids: dict[int, str] = {}

    def report(i: int):  # type: ignore[no-untyped-def]
        def done(err, msg) -> None:  # type: ignore[no-untyped-def]
            assert err is None, err
            ids[i] = f"{msg.partition()}:{msg.offset()}"

        return done

    for i, (part, d) in enumerate(letters):
        p.produce(
            s.topics.dead_letter,
            avro.encode_dead_letter(d),
            d.key,
            partition=part,
            on_delivery=report(i),
        )
    assert p.flush(30) == 0
    return [ids[i] for i in range(len(letters))]


def _config(tmp_path: Path, s: Settings) -> str:
    path = tmp_path / "settings.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "kafka_bootstrap_servers": s.kafka_bootstrap_servers,
                "topics": s.topics.model_dump(),
                "metrics_port": 0,
            }
        )
    )
    return str(path)


def test_list_filters_redrive_once_and_refuse_truncated(settings: Settings, tmp_path: Path) -> None:
    s = settings
    usage = s.topics.usage
    originals = {
        name: avro.encode_usage(_usage(f"rec-{name}", f"1390000000{i}"))
        for i, name in enumerate("abcde")
    }
    keys = {name: f"1390000000{i}".encode() for i, name in enumerate("abcde")}
    big = originals["e"] + b"\x00" * (2 * MIN_DEAD_LETTER_BYTES)

    def dead(name: str, reason: str, sp: int, so: int, ts: int, **kw: int) -> DeadLetter:
        payload = {"d": b"\xffnot avro", "e": big}.get(name, originals[name])
        err = (reason, f"{reason.lower()} of {name}")
        return dead_letter_for(payload, keys[name], usage, sp, so, err, ts, **kw)

    letters = [
        (0, dead("a", "UNKNOWN_SUBSCRIBER", 0, 5, T0)),
        (1, dead("b", "INVALID_VALUE", 1, 7, T0 + HOUR)),
        (2, dead("c", "UNKNOWN_SUBSCRIBER", 2, 9, T0 + 2 * HOUR)),
        (0, dead("d", "DECODE_ERROR", 1, 8, T0 + 3 * HOUR)),
        (
            1,
            dead("e", "UNKNOWN_SUBSCRIBER", 0, 6, T0 + 4 * HOUR, max_bytes=MIN_DEAD_LETTER_BYTES),
        ),
    ]
    assert letters[4][1].truncated and not any(d.truncated for _, d in letters[:4])
    a, b, c, d, e = _produce(s, letters)

    def listed(f: Filter) -> list[str]:
        return [x.id for x in dl.list_dead_letters(s, f)]

    # list, with each filter
    assert sorted(listed(Filter())) == sorted([a, b, c, d, e])
    unknown = frozenset({"UNKNOWN_SUBSCRIBER"})
    assert sorted(listed(Filter(reasons=unknown))) == sorted([a, c, e])
    assert sorted(listed(Filter(source_partition=1))) == sorted([b, d])
    assert sorted(listed(Filter(from_offset=6, to_offset=8))) == sorted([b, d, e])
    assert sorted(listed(Filter(since_ms=T0 + HOUR, until_ms=T0 + 3 * HOUR))) == sorted([b, c])
    assert listed(Filter(reasons=unknown, source_partition=2)) == [c]

    # the same through the command line (settings from a config file)
    runner = CliRunner()
    config = _config(tmp_path, s)
    res = runner.invoke(
        dl.deadletters_app,
        ["list", "--reason", "UNKNOWN_SUBSCRIBER", "--since", "2026-04-10T10:00:00+08:00",
         "--until", "2026-04-10T05:00:00Z", "--json", "--config", config],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    rows = [orjson.loads(line) for line in res.stdout.splitlines()]
    assert sorted(r["id"] for r in rows) == sorted([a, c])
    assert {r["source_partition"] for r in rows} == {0, 2}
    res = runner.invoke(dl.deadletters_app, ["list", "--config", config])
    assert res.exit_code == 0 and len(res.stdout.splitlines()) == 5
    assert any(
        line.startswith(f"{e}  ") and " truncated" in line for line in res.stdout.splitlines()
    )

    # show: decoded, or hex
    shown = dl.show_dead_letter(s, *dl.parse_id(a))
    assert isinstance(shown, dl.Letter) and shown.dead == letters[0][1]
    assert dl.describe(s, shown)["decoded"]["record_id"] == "rec-a"
    res = runner.invoke(dl.deadletters_app, ["show", d, "--config", config])
    assert res.exit_code == 0 and "not decodable" in res.stdout
    res = runner.invoke(dl.deadletters_app, ["show", "0:999", "--config", config])
    assert res.exit_code == 1

    # a dry run sends nothing
    dry = dl.redrive(s, Filter(reasons=frozenset({"INVALID_VALUE"})), dry_run=True)
    assert [x.letter.id for x in dry.sent] == [b]
    assert dl.read_all(s, usage) == []

    # redrive the two whole UNKNOWN_SUBSCRIBER ones; the truncated one is refused
    res1 = dl.redrive(s, Filter(reasons=unknown))
    assert sorted(x.letter.id for x in res1.sent) == sorted([a, c])
    assert [(x.id, why.split(":")[0]) for x, why in res1.refused] == [(e, "truncated")]
    got = dl.read_all(s, usage)
    assert sorted((p, k, v) for p, _, k, v in got) == [
        (0, keys["a"], originals["a"]),
        (2, keys["c"], originals["c"]),
    ]
    assert sorted((x.partition, x.offset) for x in res1.sent) == sorted(
        (p, o) for p, o, _, _ in got
    )
    records = dl.read_redriven(s)
    assert sorted(records) == sorted([a, c])
    ra = records[a]
    assert ra["source"] == {"topic": usage, "partition": 0, "offset": 5, "timestamp": T0}
    assert ra["payload_sha256"] == letters[0][1].payload_sha256
    assert ra["dead_letter"]["topic"] == s.topics.dead_letter

    # once: a second redrive sends nothing
    res2 = dl.redrive(s, Filter(reasons=unknown))
    assert res2.sent == []
    assert sorted(x.id for x in res2.already) == sorted([a, c])
    assert len(dl.read_all(s, usage)) == 2

    # the CLI: explicit ids; the truncated one refused (exit 1), the others skipped
    res = runner.invoke(dl.deadletters_app, ["redrive", "--ids", f"{a},{e}", "--config", config])
    assert res.exit_code == 1
    assert (
        f"refused {e}: truncated" in res.output and f"skipped {a}: already redriven" in res.output
    )
    res = runner.invoke(
        dl.deadletters_app, ["list", "--reason", "UNKNOWN_SUBSCRIBER", "--config", config]
    )
    assert sum("[redriven]" in line for line in res.stdout.splitlines()) == 2
    assert len(dl.read_all(s, usage)) == 2
    assert len(dl.read_redriven(s)) == 2
