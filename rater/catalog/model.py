"""The product catalog as the rating core sees it: frozen, validated, versioned.

Every product decision that the handbook leaves open and that an operator may want to
change lives here as a catalog attribute (or in `rater.catalog.decisions`), never inside the
rating code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

KB = 1024
MB = 1024 * KB
GB = 1024 * MB


class FeeMode(StrEnum):
    """How a plan's or pack's fee is charged within a cycle."""

    MONTHLY = "monthly"  # whole fee at cycle start (pro-rated at mid-cycle activation)
    DAILY_BY_USAGE = "daily_by_usage"  # accrues by day; rest charged when the allowance runs out
    ONCE = "once"  # whole fee at order, never again (topup, month_end, term)


class PackKind(StrEnum):
    RECURRING = "recurring"
    TOPUP = "topup"
    MONTH_END = "month_end"
    TERM = "term"
    DIRECTIONAL = "directional"
    NIGHT = "night"
    ASSURED = "assured"


class Effective(StrEnum):
    IMMEDIATE = "immediate"
    NEXT_CYCLE = "next_cycle"


@dataclass(frozen=True, slots=True)
class Plan:
    """A base plan: a subscriber holds exactly one."""

    code: str
    name: str
    fee_fen: int
    fee_mode: FeeMode
    data_bytes: int
    voice_min: int
    video_min: int
    data_price_fen_per_mb: int
    voice_price_fen_per_min: int
    video_price_fen_per_min: int
    fair_use_cap_bytes: int | None = None
    throttle_kbps: int = 128
    carries_over: bool = True  # False for smart/auto-upgrade and data-card plans
    prorate_first_cycle: bool = True  # monthly fee pro-rated by days at mid-cycle activation
    effective: Effective = Effective.IMMEDIATE  # when a change to this plan takes effect


@dataclass(frozen=True, slots=True)
class Pack:
    """An orderable pack; each order becomes one bucket on the subscriber's line."""

    code: str
    name: str
    kind: PackKind
    fee_fen: int
    fee_mode: FeeMode
    data_bytes: int = 0
    validity_days: int | None = None  # term packs only: 90 or 180
    apps: frozenset[str] = frozenset()  # directional packs: app ids
    rating_groups: frozenset[int] = frozenset()  # directional packs: 3GPP rating groups
    max_orders_per_cycle: int | None = None  # month_end: 5
    priority: int = 100  # lower draws first among buckets that expire together
    effective: Effective = Effective.IMMEDIATE
    carries_over: bool = False
    throttle_kbps: int = 128  # assured packs: speed once every data bucket is used up


@dataclass(frozen=True, slots=True)
class NightWindow:
    """Local time-of-day window [start, end) in minutes after midnight; may wrap midnight.
    Its default is `DEFAULT_NIGHT_WINDOW` (rater.catalog.decisions)."""

    start_minute: int
    end_minute: int

    def contains(self, minute_of_day: int) -> bool:
        """Section 2: the night window rule; the core reads it through `Runtime.at_night`."""
        if self.start_minute <= self.end_minute:
            return self.start_minute <= minute_of_day < self.end_minute
        return minute_of_day >= self.start_minute or minute_of_day < self.end_minute


@dataclass(frozen=True, slots=True)
class Catalog:
    """Everything rating needs to know about products, with the version every event carries."""

    version: str
    timezone: str  # IANA name with a fixed UTC offset (no daylight saving)
    utc_offset_minutes: int
    night_window: NightWindow
    plans: dict[str, Plan] = field(default_factory=dict)
    packs: dict[str, Pack] = field(default_factory=dict)
    source: str = "<memory>"
