"""Progress of a long job: a bar on a terminal (tqdm), a line every few seconds
otherwise (a CI log, a Kubernetes Job's log), so that nobody stares at a silent job."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import IO, Any, Protocol

from tqdm import tqdm


class Reports(Protocol):
    """What a job tells a progress display: bytes of input read, records done."""

    def update(self, done: int, records: int) -> None: ...


class Progress:
    """Counts bytes of input read (`total` if known; or another `unit`: messages) and
    records done."""

    def __init__(
        self,
        label: str,
        total: int | None,
        every_s: float = 10.0,
        stream: IO[str] | None = None,
        enabled: bool = True,
        unit: str = "B",
    ) -> None:
        self.label = label
        self.total = total
        self.every_s = every_s
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.done = 0
        self.records = 0
        self._t0 = time.monotonic()
        self._next = self._t0 + every_s
        self._bar: tqdm[Any] | None = None
        if enabled and self.stream.isatty():
            self._bar = tqdm(
                total=total, desc=label, unit=unit, unit_scale=True, file=self.stream, leave=False
            )

    def update(self, done: int, records: int) -> None:
        """`done` bytes (of `total`) and `records` so far."""
        if not self.enabled:
            return
        step = done - self.done
        self.done, self.records = done, records
        if self._bar is not None:
            self._bar.update(step)
            self._bar.set_postfix_str(f"{records:,} records", refresh=False)
            return
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self.every_s
            self._line(now)

    def _line(self, now: float) -> None:
        elapsed = now - self._t0
        rate = self.records / elapsed if elapsed > 0 else 0.0
        share = f" ({100 * self.done / self.total:.0f} %)" if self.total else ""
        print(
            f"{self.label}: {self.records:,} records{share}, {rate:,.0f} records/s",
            file=self.stream,
            flush=True,
        )

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.close()
