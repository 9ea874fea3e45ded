"""The restart policy of `rater run` (rater.stream.restarts): restarts counted in a
sliding window, pauses that grow during an outage, and the two ways to give up."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from confluent_kafka import KafkaError, KafkaException

from rater.config import Settings
from rater.errors import UNAVAILABLE, Unavailable, describe
from rater.stream.processor import StreamRater
from rater.stream.restarts import Restarts
from tests.unit.stream.test_batch import _subscribed


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _policy(outage_s: float = 120, window_s: float = 600, limit: int = 5) -> tuple[Restarts, Clock]:
    clock = Clock()
    return Restarts(outage_s, window_s, limit, clock), clock


def test_restarts_far_apart_never_add_up_to_the_limit() -> None:
    """A process that loses a dependency now and then, for ever, stays up: each restart
    leaves the window before the limit is reached."""
    r, clock = _policy(limit=3)
    for _ in range(100):
        assert r.failed(ConnectionError("lost"), turned=True) == 0.2
        clock.now += 601
    assert r.in_window() == 0


def test_more_restarts_than_the_limit_within_the_window_give_up() -> None:
    r, clock = _policy(window_s=600, limit=3)
    for _ in range(3):
        r.failed(ConnectionError("flap"), turned=True)  # each session turned, then failed
        clock.now += 100
    with pytest.raises(Unavailable, match=r"4 session restarts in 600 s \(restart_limit 3"):
        r.failed(ConnectionError("flap"), turned=True)


def test_the_window_slides_restarts_older_than_it_are_forgotten() -> None:
    r, clock = _policy(window_s=600, limit=3)
    for _ in range(3):
        r.failed(ConnectionError("flap"), turned=True)
        clock.now += 250  # restarts at 0, 250, 500
    # at 750 the first one (0) is out of the window: 3 counted with this one
    r.failed(ConnectionError("flap"), turned=True)
    assert r.in_window() == 3
    clock.now += 10
    with pytest.raises(Unavailable):  # 250, 500, 750, 760
        r.failed(ConnectionError("flap"), turned=True)


def test_pauses_double_during_an_outage_and_start_over_after_a_good_turn() -> None:
    r, clock = _policy(limit=100)
    pauses = []
    for _ in range(10):
        pauses.append(r.failed(ConnectionError("down"), turned=False))
        clock.now += pauses[-1]
    assert pauses[:4] == [0.2, 0.4, 0.8, 1.6]
    assert pauses[-1] == 30.0  # capped
    assert r.failed(ConnectionError("again"), turned=True) == 0.2


def test_an_outage_longer_than_dependency_retry_s_gives_up_with_one_line() -> None:
    r, clock = _policy(outage_s=120, limit=100)
    r.failed(ConnectionError("Redis is down"), turned=True)  # the outage begins
    clock.now += 119
    r.failed(ConnectionError("Redis is down"), turned=False)
    clock.now += 2
    with pytest.raises(Unavailable) as e:
        r.failed(ConnectionError("Redis is down"), turned=False)
    code, line = describe(e.value)
    assert code == UNAVAILABLE
    assert line.startswith("gave up after 3 attempts over 121 s (dependency_retry_s 120)")
    assert line.endswith("Redis is down") and "\n" not in line


def test_a_good_turn_ends_the_outage() -> None:
    r, clock = _policy(outage_s=120, limit=100)
    r.failed(ConnectionError("down"), turned=False)
    clock.now += 100
    r.failed(ConnectionError("down"), turned=True)  # it came back, then went again
    clock.now += 100
    r.failed(ConnectionError("down"), turned=False)  # 100 s into the second outage
    assert r.failures == 2


class Scripted(StreamRater):
    """A StreamRater whose sessions follow a script instead of Kafka: each entry is what
    a session's `_open` or `_loop` raises (None: the loop returns)."""

    def __init__(self, script: list[tuple[str, BaseException | None]], **settings: Any) -> None:
        rater, store = _subscribed()
        super().__init__(Settings(metrics_port=0, **settings), rater, store)
        self.script = script
        self.closed = 0
        self.ready_in_pause: list[bool] = []

    def _open(self) -> None:
        step, error = self.script[0]
        if step == "open":
            self.script.pop(0)
            assert error is not None
            raise error

    def _loop(self, drain: bool) -> None:
        step, error = self.script.pop(0)
        assert step == "loop"
        self.health.ready = True
        self._turned = True
        if error is not None:
            raise error

    def _close(self) -> None:
        self.closed += 1
        super()._close()


def _fatal() -> KafkaException:
    return KafkaException(KafkaError(KafkaError.INVALID_TXN_STATE, "fenced", fatal=True))


def test_a_fatal_producer_a_lost_redis_and_a_broker_still_away_restart_the_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """None of them ends run(): each closes the session (not ready from then on) and a
    new one opens after a pause; the run returns when a session ends normally."""
    svc = Scripted(
        [
            ("loop", _fatal()),  # a transaction that outlived its timeout
            ("open", KafkaException(KafkaError(KafkaError._TIMED_OUT))),  # init_transactions
            ("loop", redis.exceptions.ConnectionError("Connection refused")),
            ("loop", None),
        ]
    )
    pauses: list[float] = []

    def wait(pause: float) -> bool:
        pauses.append(pause)
        svc.ready_in_pause.append(svc.health.ready)
        return False

    monkeypatch.setattr(svc.stop, "wait", wait)
    svc.run()
    assert svc.script == []
    assert svc.closed == 4
    assert pauses == [0.2, 0.4, 0.2]  # the open failed without a good turn: doubled
    assert svc.ready_in_pause == [False, False, False]


def test_a_restart_loop_past_the_limit_ends_run_with_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    svc = Scripted([("loop", _fatal()) for _ in range(4)], restart_limit=3, restart_window_s=60)
    monkeypatch.setattr(svc.stop, "wait", lambda pause: False)
    with pytest.raises(Unavailable, match="4 session restarts in 60 s"):
        svc.run()
    assert svc.closed == 4
