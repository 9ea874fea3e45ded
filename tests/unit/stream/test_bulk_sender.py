"""`rater load --bulk` sends each process's commands a round ahead of its rating
(`rater.stream.bulk._Sender`): a round is applied with the offsets and timestamps the
broker gave its own commands, and a command the broker refused stops the load before
its round is rated, saying what to do; a loading process that stops says why in one
line, and the load fails as unavailable only when that is why."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from rater.config import Settings
from rater.core.inputs import NewSubscriber, Tick
from rater.errors import Unavailable
from rater.stream import bulk
from rater.stream.bulk import _own_commands, _Sender

S = Settings(metrics_port=0)


class _Msg:
    def __init__(self, partition: int, offset: int) -> None:
        self._p, self._o = partition, offset

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o

    def timestamp(self) -> tuple[int, int]:
        return (1, 1_000_000 + self._o)


class _Broker:
    """A producer whose messages are delivered (or refused) when polled."""

    def __init__(self, conf: dict[str, Any], refuse_from: int | None = None) -> None:
        self.report: Callable[[Any, Any], None] = conf["on_delivery"]
        self.queued: list[int] = []  # partitions, in the order produced
        self.next_offset: dict[int, int] = {}
        self.produced = 0
        self.refuse_from = refuse_from

    def produce(self, topic: str, value: bytes, key: bytes, partition: int) -> None:
        self.queued.append(partition)
        self.produced += 1

    def poll(self, timeout: float = 0) -> int:
        for p in self.queued:
            off = self.next_offset.get(p, 0)
            self.next_offset[p] = off + 1
            if self.refuse_from is not None and off >= self.refuse_from:
                self.report("MSG_TIMED_OUT", None)
            else:
                self.report(None, _Msg(p, off))
        n, self.queued = len(self.queued), []
        return n

    def flush(self, timeout: float = 0) -> int:
        self.poll()
        return 0


def _subscribers(n: int) -> list[NewSubscriber | Tick]:
    cmds: list[NewSubscriber | Tick] = [
        NewSubscriber(f"c{i}", f"1380000{i:04d}", 1_000 + i, "basic", 1, "GD") for i in range(n)
    ]
    return [*cmds, Tick(5_000)]


def _sender(monkeypatch: pytest.MonkeyPatch, refuse_from: int | None = None) -> _Sender:
    monkeypatch.setattr(bulk, "CHUNK", 4)
    brokers: list[_Broker] = []

    def producer(conf: dict[str, Any]) -> _Broker:
        brokers.append(_Broker(conf, refuse_from))
        return brokers[-1]

    monkeypatch.setattr(bulk, "Producer", producer)
    return _Sender(S, _own_commands(S, _subscribers(40), 2, [0, 1]))


def test_each_round_is_applied_with_its_own_commands_offsets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sender = _sender(monkeypatch)
    sender.send(1)  # rounds 0 and 1 on their way
    sender.delivered(0)
    for sent in sender.by_part.values():
        assert [c.offset for c in sent[:4]] == [0, 1, 2, 3]
        assert [c.timestamp for c in sent[:4]] == [1_000_000, 1_000_001, 1_000_002, 1_000_003]
        assert all(c.offset == -1 for c in sent[4:8])  # delivered, not noted yet
    rounds = (max(len(v) for v in sender.by_part.values()) + 3) // 4
    for r in range(1, rounds):
        sender.delivered(r)
    for sent in sender.by_part.values():
        assert [c.offset for c in sent] == list(range(len(sent)))
        assert isinstance(sent[-1].item, Tick)
    # every subscriber once, and the tick once per partition
    assert sum(len(v) for v in sender.by_part.values()) == 40 + 2


def test_a_command_the_broker_refused_stops_the_load_before_its_round_is_rated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sender = _sender(monkeypatch, refuse_from=6)
    sender.delivered(0)  # offsets 0-3 of each partition: taken
    with pytest.raises(Unavailable, match=r"not delivered to Kafka.*run rater run"):
        sender.delivered(1)  # the broker refuses from offset 6
    assert all(c.offset == -1 for sent in sender.by_part.values() for c in sent[4:8])


class _Store:
    ns = "bulk-test"


def _failing_parts(failure: Exception) -> Callable[..., bulk._Done]:
    def parts(*args: Any) -> bulk._Done:
        if args[-1] == 0:  # the first loading process
            raise failure
        return bulk._Done(commands=1, applied=1)

    return parts


def test_a_loading_process_that_loses_kafka_says_so_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(bulk, "_apply_parts", _failing_parts(Unavailable("Kafka at x: down")))
    with pytest.raises(Unavailable, match=r"rater-bulk-0 stopped.*rater run recovers it"):
        bulk._apply(S, Any, _Store(), [], 2, workers=2)  # type: ignore[arg-type]
    err = capfd.readouterr().err
    assert "error: bulk load process 0: Kafka at x: down" in err
    assert "Traceback" not in err


def test_a_bug_in_a_loading_process_is_not_reported_as_an_outage(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(bulk, "_apply_parts", _failing_parts(ValueError("boom")))
    with pytest.raises(RuntimeError, match="stopped") as raised:
        bulk._apply(S, Any, _Store(), [], 2, workers=2)  # type: ignore[arg-type]
    assert not isinstance(raised.value, Unavailable)
    assert "internal error (a bug, please report it): ValueError: boom" in capfd.readouterr().err
