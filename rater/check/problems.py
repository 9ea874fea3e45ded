"""What `rater check` reports: a `Problem` (file, line, field, message, part) and how a
list of them is shown."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

PARTS: Final = ("catalog", "subscribers", "commands", "usage")
DEFAULT_MAX_FUTURE_MS: Final = 24 * 3_600_000  # as Settings.max_future_ms


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem in an input file. `line` is 1-based, 0 when unknown; `part` is the
    kind of input: catalog, subscribers, commands or usage."""

    file: str
    line: int
    field: str
    message: str
    part: str = "subscribers"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


def format_problems(problems: Iterable[Problem]) -> str:
    """One problem a line, `file:line: field: message`."""
    return "\n".join(str(p) for p in problems)


def summary_line(problems: Sequence[Problem]) -> str:
    """ "3 problems (subscribers 2, usage 1)", or "no problems"."""
    if not problems:
        return "no problems"
    counts = [(part, sum(1 for p in problems if p.part == part)) for part in PARTS]
    detail = ", ".join(f"{part} {n}" for part, n in counts if n)
    return f"{len(problems)} problem{'s' if len(problems) != 1 else ''} ({detail})"
