"""Dead letters as data: where each is in the dead-letter topic, which ones a filter
chooses, and where redrives are recorded. No Kafka here, so that the rules are tested
without a broker."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from rater.codec.deadletter import DeadLetter
from rater.config import Settings

__all__ = [
    "REDRIVE_SUFFIX",
    "Filter",
    "Letter",
    "Reading",
    "Unreadable",
    "parse_id",
    "parse_ids",
    "redrive_topic",
    "select",
]

REDRIVE_SUFFIX: Final = ".redriven"


def redrive_topic(s: Settings) -> str:
    """Where redrives are recorded: `<dead-letter topic>.redriven`."""
    return s.topics.dead_letter + REDRIVE_SUFFIX


@dataclass(frozen=True, slots=True)
class Letter:
    """A dead letter and where it is in the dead-letter topic."""

    partition: int
    offset: int
    dead: DeadLetter

    @property
    def id(self) -> str:
        return f"{self.partition}:{self.offset}"


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A message of the dead-letter topic that is not a dead letter."""

    partition: int
    offset: int
    error: str


@dataclass(frozen=True, slots=True)
class Reading:
    """What the dead-letter topic holds: the dead letters and the messages that are not."""

    letters: list[Letter]
    unreadable: list[Unreadable]


def parse_id(text: str) -> tuple[int, int]:
    """`"P:O"` (dead-letter partition and offset) to `(P, O)`; ValueError otherwise."""
    part, sep, off = text.strip().partition(":")
    try:
        p, o = int(part), int(off)
    except ValueError:
        p = o = -1
    if not sep or p < 0 or o < 0:
        raise ValueError(f"{text.strip()!r} is not PARTITION:OFFSET (e.g. 0:12)")
    return p, o


def parse_ids(texts: Iterable[str]) -> frozenset[tuple[int, int]]:
    """Ids from options such as `--ids 0:1,0:2 --ids 1:7`."""
    return frozenset(parse_id(t) for text in texts for t in text.split(",") if t.strip())


@dataclass(frozen=True)
class Filter:
    """Which dead letters: every given criterion must hold (none given: all).

    `reasons`: error classes (any of them); `source_*`: where the original was read;
    `from_offset`/`to_offset`: the source offset, both inclusive; `since_ms`/`until_ms`:
    the dead letter's timestamp (the source message's), since inclusive, until exclusive;
    `ids`: dead-letter (partition, offset) pairs."""

    reasons: frozenset[str] = frozenset()
    source_topic: str | None = None
    source_partition: int | None = None
    from_offset: int | None = None
    to_offset: int | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    ids: frozenset[tuple[int, int]] = frozenset()

    @property
    def everything(self) -> bool:
        return self == Filter()

    def matches(self, letter: Letter) -> bool:
        d = letter.dead
        return (
            (not self.reasons or d.error_class in self.reasons)
            and (self.source_topic is None or d.source_topic == self.source_topic)
            and (self.source_partition is None or d.source_partition == self.source_partition)
            and (self.from_offset is None or d.source_offset >= self.from_offset)
            and (self.to_offset is None or d.source_offset <= self.to_offset)
            and (self.since_ms is None or d.timestamp >= self.since_ms)
            and (self.until_ms is None or d.timestamp < self.until_ms)
            and (not self.ids or (letter.partition, letter.offset) in self.ids)
        )


def select(letters: Iterable[Letter], f: Filter) -> list[Letter]:
    """The letters `f` matches, in dead-letter (partition, offset) order."""
    return sorted((x for x in letters if f.matches(x)), key=lambda x: (x.partition, x.offset))
