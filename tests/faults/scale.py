"""How big the fault tests run: `RATER_FAULTS_SCALE=ci` (the default, what `make test`
and CI run) or `full` (`make faults`), and single figures overridden by
`RATER_FAULTS_RECORDS`, `RATER_FAULTS_KILLS`, `RATER_FAULTS_POINT_KILLS` and
`RATER_FAULTS_PROCESSES`.

The kill -9 test kills `kills` times in all: `point_kills` times at each crash point of
`rater.stream.faults.POINTS` (the process kills itself there), the rest from outside at
random instants."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from rater.stream.faults import POINTS


@dataclass(frozen=True)
class Scale:
    name: str
    records: int  # usage records of the kill -9 run
    kills: int  # SIGKILLs in all, at crash points and at random instants
    point_kills: int  # of which at each crash point
    processes: int  # `rater run` processes in the group

    @property
    def random_kills(self) -> int:
        return self.kills - self.point_kills * len(POINTS)

    @property
    def subscribers(self) -> int:
        return max(200, self.records // 300)

    def check(self) -> Scale:
        if self.random_kills < 0:
            raise ValueError(
                f"fault scale {self.name}: {self.kills} kills cannot hold "
                f"{self.point_kills} at each of {len(POINTS)} crash points"
            )
        if self.processes < 1 or self.records < 1000:
            raise ValueError(f"fault scale {self.name}: too small: {self}")
        return self


SCALES = {
    # CI: every crash point three times, two kills from outside, three processes
    # (100 000 records: with 50 000 the input could end before the last armed member
    # reached its crash point, on a loaded box)
    "ci": Scale("ci", records=100_000, kills=14, point_kills=3, processes=3),
    # issue 15: at least 20 kills over at least 200 000 records, 3 processes in one group
    "full": Scale("full", records=200_000, kills=24, point_kills=4, processes=3),
}

_OVERRIDES = {
    "records": "RATER_FAULTS_RECORDS",
    "kills": "RATER_FAULTS_KILLS",
    "point_kills": "RATER_FAULTS_POINT_KILLS",
    "processes": "RATER_FAULTS_PROCESSES",
}


def current() -> Scale:
    """The scale the environment asks for."""
    name = os.environ.get("RATER_FAULTS_SCALE", "ci") or "ci"
    if name not in SCALES:
        raise ValueError(f"RATER_FAULTS_SCALE={name!r}: one of {', '.join(SCALES)}")
    scale = SCALES[name]
    changes: dict[str, int] = {}
    for field, var in _OVERRIDES.items():
        value = os.environ.get(var)
        if value:
            changes[field] = int(value)
    if changes:
        scale = dataclasses.replace(scale, name=f"{name}+env", **changes)
    return scale.check()


def full() -> bool:
    """Is this the full size (`make faults`)?"""
    return current().name.startswith("full")
