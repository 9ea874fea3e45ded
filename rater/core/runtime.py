"""What every rule needs besides the state: the catalog and values derived from it once."""

from __future__ import annotations

from dataclasses import dataclass, field

from rater.catalog.model import Catalog, PackKind
from rater.core.cycles import MINUTE_MS, minute_of_day
from rater.core.duplicates import DEFAULT_WINDOW_MS


@dataclass(frozen=True, slots=True)
class Runtime:
    catalog: Catalog
    offset_ms: int = 0
    night_minutes: tuple[bool, ...] = ()  # minute of the local day -> inside the night window
    directional_match: dict[str, tuple[frozenset[str], frozenset[int]]] = field(
        default_factory=dict
    )
    # how far back in event time a line remembers its records (rater.core.duplicates)
    duplicate_window_ms: int = DEFAULT_WINDOW_MS

    @classmethod
    def of(cls, catalog: Catalog, duplicate_window_ms: int = DEFAULT_WINDOW_MS) -> Runtime:
        if duplicate_window_ms < 3_600_000:
            raise ValueError(f"duplicate window of {duplicate_window_ms} ms: at least an hour")
        return cls(
            catalog=catalog,
            offset_ms=catalog.utc_offset_minutes * MINUTE_MS,
            night_minutes=tuple(catalog.night_window.contains(m) for m in range(1440)),
            directional_match={
                p.code: (p.apps, p.rating_groups)
                for p in catalog.packs.values()
                if p.kind == PackKind.DIRECTIONAL
            },
            duplicate_window_ms=duplicate_window_ms,
        )

    def at_night(self, t: int) -> bool:
        """Is time `t` in the catalog's night window? The rule is
        `NightWindow.contains`; this is its table by minute of the local day."""
        return self.night_minutes[minute_of_day(t, self.offset_ms)]

    @property
    def version(self) -> str:
        return self.catalog.version
