"""The product decisions the catalog loader applies, in one table: what each pack kind
allows and defaults (fee modes, carry-over, data, when an order takes effect), and the
defaults of fields a catalog may leave out.

docs/rules.md states each rule; docs/catalog.md shows this table as the format's
reference. Change a decision here, nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from rater.catalog.model import Effective, FeeMode, PackKind

__all__ = [
    "DEFAULT_MONTH_END_MAX_ORDERS",
    "DEFAULT_NIGHT_WINDOW",
    "DEFAULT_PRIORITY",
    "DEFAULT_THROTTLE_KBPS",
    "DEFAULT_TIMEZONE",
    "MAX_RATING_GROUP",
    "PACK_KIND_RULES",
    "PER_CYCLE_FEE_MODES",
    "PLAN_FEE_MODES",
    "TERM_VALIDITY_DAYS",
    "KindRule",
]

DEFAULT_TIMEZONE: Final = "Asia/Shanghai"  # configurable per catalog
DEFAULT_NIGHT_WINDOW: Final = ("23:00", "07:00")  # night packs: 23:00-07:00 local
TERM_VALIDITY_DAYS: Final = frozenset({90, 180})  # 90 or 180 days from activation
DEFAULT_MONTH_END_MAX_ORDERS: Final = 5  # at most 5 orders per cycle
DEFAULT_PRIORITY: Final = 100
DEFAULT_THROTTLE_KBPS: Final = 128
MAX_RATING_GROUP: Final = 2**32 - 1  # 3GPP rating groups are unsigned 32-bit

PER_CYCLE_FEE_MODES: Final = frozenset({FeeMode.MONTHLY, FeeMode.DAILY_BY_USAGE})
PLAN_FEE_MODES: Final = PER_CYCLE_FEE_MODES


@dataclass(frozen=True, slots=True)
class KindRule:
    """What the catalog allows and defaults for one pack kind."""

    default_fee_mode: FeeMode
    fee_modes: frozenset[FeeMode]
    default_carries_over: bool
    may_carry_over: bool
    needs_data: bool  # data must be > 0 (False: 0 is allowed, e.g. an assured pack)
    effective: frozenset[Effective]  # when an order of this kind may take effect


_ANY_TIME: Final = frozenset(Effective)
_ONCE: Final = frozenset({FeeMode.ONCE})

PACK_KIND_RULES: Final[Mapping[PackKind, KindRule]] = {
    # a fee per cycle, renewed every cycle; carries over
    PackKind.RECURRING: KindRule(
        default_fee_mode=FeeMode.MONTHLY,
        fee_modes=PER_CYCLE_FEE_MODES,
        default_carries_over=True,
        may_carry_over=True,
        needs_data=True,
        effective=_ANY_TIME,
    ),
    # the full fee at order, removed at the next cycle; never carries
    PackKind.TOPUP: KindRule(
        default_fee_mode=FeeMode.ONCE,
        fee_modes=_ONCE,
        default_carries_over=False,
        may_carry_over=False,
        needs_data=True,
        effective=_ANY_TIME,
    ),
    # until the end of the current cycle, at most 5 orders a cycle; never carries
    PackKind.MONTH_END: KindRule(
        default_fee_mode=FeeMode.ONCE,
        fee_modes=_ONCE,
        default_carries_over=False,
        may_carry_over=False,
        needs_data=True,
        effective=_ANY_TIME,
    ),
    # 90 or 180 days from activation, no renewal; never carries
    PackKind.TERM: KindRule(
        default_fee_mode=FeeMode.ONCE,
        fee_modes=_ONCE,
        default_carries_over=False,
        may_carry_over=False,
        needs_data=True,
        effective=_ANY_TIME,
    ),
    # effective at once, a fee by day by usage; never carries
    PackKind.DIRECTIONAL: KindRule(
        default_fee_mode=FeeMode.DAILY_BY_USAGE,
        fee_modes=frozenset({FeeMode.DAILY_BY_USAGE}),
        default_carries_over=False,
        may_carry_over=False,
        needs_data=True,
        effective=frozenset({Effective.IMMEDIATE}),
    ),
    # renewed per cycle; its unused data carries over
    PackKind.NIGHT: KindRule(
        default_fee_mode=FeeMode.MONTHLY,
        fee_modes=PER_CYCLE_FEE_MODES,
        default_carries_over=True,
        may_carry_over=True,
        needs_data=True,
        effective=_ANY_TIME,
    ),
    # renewed per cycle, never carries; may have no data of its own (throttle only)
    PackKind.ASSURED: KindRule(
        default_fee_mode=FeeMode.MONTHLY,
        fee_modes=PER_CYCLE_FEE_MODES,
        default_carries_over=False,
        may_carry_over=False,
        needs_data=False,
        effective=_ANY_TIME,
    ),
}
