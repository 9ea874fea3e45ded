"""The order in which a partition's inputs are applied: usage and commands merged by
event time, whatever the batch boundaries.

A partition has two input queues, usage and commands, each in offset order. The next
input applied is the earlier of the two heads (a command first on a tie; an input that
failed its checks, time `BAD`, as soon as it is at the head of its queue and the other
queue holds an input or is done). When one queue is empty, the other waits until its
topic is known to be *done*: at its end on the broker, or waited for long enough (the
stream), or read to the end (offline). This
is how Kafka Streams synchronises co-partitioned inputs by timestamp (KIP-695,
`max.task.idle.ms`), so that:

- the result depends neither on the batch size nor on which topic was fetched first;
- an offline job, which knows the whole input, applies it in the same order as the
  stream that had all of it on the broker;
- an idle command topic adds no wait: at its end, it is done.

Each queue is a deque of `Arrival`s (the decoded input, its message and account key).
"""

from __future__ import annotations

from collections import deque
from typing import Final, NamedTuple

from rater.codec.errors import DecodeError
from rater.core.inputs import Command, Tick, UsageRecord
from rater.pipeline.messages import InMessage

BAD: Final = -(1 << 62)  # merge time of an input that failed decoding or its checks

Decoded = UsageRecord | Command | Tick


class Arrival(NamedTuple):
    """A consumed input waiting its turn."""

    time: int  # event time (ms) for the merge; BAD for an input to dead-letter
    msg: InMessage
    item: Decoded | DecodeError | tuple[str, str]  # the input, or why it is dead-lettered
    key: str | None  # account key; None for a tick (or a dead letter without one)


class Aligner:
    """The two queues of one partition and the merge between them."""

    __slots__ = ("commands", "usage")

    def __init__(self) -> None:
        self.usage: deque[Arrival] = deque()
        self.commands: deque[Arrival] = deque()

    def release(self, usage_done: bool, commands_done: bool) -> list[Arrival]:
        """The arrivals whose turn has come, in the order to apply them. `*_done`: no
        more input of that topic is expected now."""
        u, c = self.usage, self.commands
        out: list[Arrival] = []
        take = out.append
        while u and c:
            if c[0].time <= u[0].time:
                take(c.popleft())
            else:
                take(u.popleft())
        if u and commands_done:
            out.extend(u)
            u.clear()
        elif c and usage_done:
            out.extend(c)
            c.clear()
        return out

    def put_back(self, arrivals: list[Arrival], usage_topic: str) -> None:
        """Arrivals released but not applied (in release order), back at the head of
        their queues: the next `release` gives them again, in the same order."""
        usage = [a for a in arrivals if a.msg.topic == usage_topic]
        self.usage.extendleft(reversed(usage))
        self.commands.extendleft(reversed([a for a in arrivals if a.msg.topic != usage_topic]))

    def held(self) -> int:
        return len(self.usage) + len(self.commands)

    def first_held(self) -> dict[str, int]:
        """Offset of the first input still held, per topic (the watermark stops there)."""
        out: dict[str, int] = {}
        for q in (self.usage, self.commands):
            if q:
                m = q[0].msg
                out[m.topic] = m.offset
        return out

    def waiting_on(self) -> str | None:
        """Which queue is empty while the other holds inputs: "usage", "commands", None."""
        if self.usage and not self.commands:
            return "commands"
        if self.commands and not self.usage:
            return "usage"
        return None
