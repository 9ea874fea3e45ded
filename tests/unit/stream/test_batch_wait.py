"""A turn takes at once what came while the last batch was rated; only an idle turn waits
`batch_timeout_s` for input. A wait after a batch added itself to every record's latency
and, near full load, made each batch larger than the last (docs/configuration.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rater.stream.processor import StreamRater
from tests.unit.stream.test_commit_overlap import batch
from tests.unit.stream.test_lag_metric import INPUTS, T, TurningConsumer, _service


class TimedConsumer(TurningConsumer):
    """Notes the timeout of each `consume()`."""

    def __init__(self, svc: StreamRater, steps: list[Callable[[], list[Any]]]) -> None:
        super().__init__(svc, steps)
        self.waits: list[float] = []

    def consume(self, num_messages: int, timeout: float) -> list[Any]:
        self.waits.append(timeout)
        return super().consume(num_messages, timeout)


def test_only_a_turn_after_an_idle_one_waits_for_input() -> None:
    svc, _ = _service()
    consumer = TimedConsumer(svc, [])
    svc.consumer = consumer  # type: ignore[assignment]
    consumer.assigned = INPUTS
    svc._on_assign(consumer, INPUTS)  # type: ignore[arg-type]
    svc._recover()
    consumer.highs[(T.usage, 0)] = 9
    # idle, three records, three more, nothing, nothing
    consumer.steps = [list, lambda: batch(0), lambda: batch(3), list, list]
    svc._loop(drain=False)
    idle = svc.s.batch_timeout_s
    assert idle > 0
    assert consumer.waits == [idle, idle, 0, 0, idle]
