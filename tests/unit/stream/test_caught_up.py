"""The cheap early-drain hint: only when every assigned partition is applied up to the
end the consumer has heard of, and never when an end is not known yet."""

from __future__ import annotations

from confluent_kafka import TopicPartition

from rater.stream.kafka import caught_up


class FakeConsumer:
    def __init__(self, highs: dict[tuple[str, int], int]) -> None:
        self.highs = highs

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(t, p) for t, p in self.highs]

    def get_watermark_offsets(
        self, tp: TopicPartition, timeout: float | None = None, cached: bool = False
    ) -> tuple[int, int]:
        assert cached, "the hint must not send a request"
        return (0, self.highs[(tp.topic, tp.partition)])


def test_all_partitions_at_their_known_end() -> None:
    c = FakeConsumer({("usage", 0): 10, ("commands", 0): 0})
    assert caught_up(c, {("usage", 0): 10})  # type: ignore[arg-type]


def test_one_partition_behind_or_an_unknown_end_is_not_the_end() -> None:
    assert not caught_up(FakeConsumer({("usage", 0): 10, ("usage", 1): 5}), {("usage", 0): 10})  # type: ignore[arg-type]
    assert not caught_up(FakeConsumer({("usage", 0): -1001}), {("usage", 0): 10})  # type: ignore[arg-type]
