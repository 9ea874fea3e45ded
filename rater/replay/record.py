"""`rater record`: copy the input topics (and, asked, the charges issued) over a time
range into a recording file, reading only what was committed and changing nothing on
the broker (rater.replay.topics says how)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rater.config import Settings
from rater.progress import Progress
from rater.replay import topics as kafka
from rater.replay.recording import Message, RecordingMeta, write_recording


@dataclass
class Recorded:
    """What a recording holds, for the line `rater record` prints."""

    path: Path
    messages: int
    meta: RecordingMeta

    def text(self) -> str:
        spans = ", ".join(
            f"{t} {sum(e - f for f, e in parts.values())} offsets"
            for t, parts in self.meta.offsets.items()
        )
        return f"{self.messages} messages recorded to {self.path} ({spans})"


def record(
    s: Settings,
    out: Path,
    from_ms: int | None,
    to_ms: int | None,
    charges: bool = False,
    progress: bool = True,
) -> Recorded:
    """Record the command topic, then the usage topic (then the charges topic) into
    `out`. The offsets to copy are fixed first, from `from_ms`/`to_ms` (message
    timestamps) and the ends the partitions have now, so the copy ends. Written to a
    temporary file next to `out`, renamed when complete."""
    roles = {"commands": s.topics.commands, "usage": s.topics.usage}
    if charges:
        roles["charges"] = s.topics.charges
    consumer = kafka.reader(s)
    try:
        wanted = {
            topic: kafka.ranges(s, consumer, topic, from_ms, to_ms) for topic in roles.values()
        }
        meta = RecordingMeta(
            roles=roles,
            partitions={t: len(r) for t, r in wanted.items()},
            offsets=wanted,
            from_ms=from_ms,
            to_ms=to_ms,
            recorded_at=int(time.time() * 1000),
        )
        total = sum(e - f for r in wanted.values() for f, e in r.values())
        show = progress and "PYTEST_VERSION" not in os.environ
        tmp = out.with_name(out.name + ".part")
        with Progress(f"recording to {out.name}", total, enabled=show, unit="msg") as bar:
            copied = [0]  # messages so far, for the bar

            def messages() -> Iterator[Message]:
                done = 0
                for topic, parts in wanted.items():

                    def seen(k: int, base: int = done) -> None:
                        bar.update(base + k, copied[0])

                    for m in kafka.read(consumer, topic, parts, seen):
                        copied[0] += 1
                        yield m
                    done += sum(e - f for f, e in parts.values())

            try:
                n = write_recording(tmp, meta, messages())
            except BaseException:
                tmp.unlink(missing_ok=True)  # no half recording left behind
                raise
        tmp.replace(out)
    finally:
        consumer.close()
    return Recorded(out, n, meta)
