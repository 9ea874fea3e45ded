"""Section 5: which bucket pays. The consumption order of a data record, in one place.

1. directional buckets that list the record's app (home province only);
2. at night (catalog window), night buckets, carried-over first;
3. general buckets: carried-over first, then soonest expiry, then those that would not
   carry over, then catalog priority, then oldest activation;
4. for a sharing member, the owner's shared buckets (plan and recurring), in the
   owner's order;
5. what is left is overage, or free-but-throttled (handled by the engine).

The ordered lists are cached on the line. Only a command or a due change of the clock
changes what decides the order (the buckets, their validity, carry-over), and both end
in `clock.reschedule`, which forgets the order of every line of the account: no change
can leave a stale order behind (tests.unit.core.test_consumption_order checks it).
"""

from __future__ import annotations

from dataclasses import dataclass

from rater.catalog.decisions import CARRY_KINDS, PLAN_KIND, SHARED_KINDS
from rater.catalog.model import Catalog, PackKind
from rater.core.state import UNIT_DATA, Bucket, Line


@dataclass(frozen=True, slots=True)
class DataOrder:
    directional: tuple[Bucket, ...]
    night: tuple[Bucket, ...]
    general: tuple[Bucket, ...]
    shared: tuple[Bucket, ...]  # the general buckets that sharing members may draw on


def would_carry(b: Bucket, line: Line, catalog: Catalog) -> bool:
    """Would this bucket's unused data carry into the next cycle (section 6)? Never out
    of the line's first cycle nor the bucket's (`partial_cycle`), never twice, only for
    the kinds that may carry (`CARRY_KINDS`) of a product that says so, and not for a
    cancelled pack or a plan being changed."""
    if b.unit != UNIT_DATA or b.carried or b.first_cycle or line.first_cycle:
        return False
    if b.kind not in CARRY_KINDS:
        return False
    if b.kind == PLAN_KIND:
        plan = catalog.plans.get(b.product)
        return plan is not None and plan.carries_over and line.pending_plan is None
    pack = catalog.packs.get(b.product)
    if pack is None or not pack.carries_over:
        return False
    return not any(s.cancelled for s in line.subscriptions if s.bucket_id == b.id)


def partial_cycle(line: Line, t: int) -> bool:
    """Is a pack ordered at `t` in a partial first cycle, out of which nothing carries?
    Yes unless it starts with the cycle. (A plan put on by a command is always in its
    first cycle; one that takes effect at a cycle start never is: `products.attach_plan`.)"""
    return t > line.cycle_start


def _general_key(b: Bucket, carries: bool) -> tuple[int, int, int, int, int, str]:
    return (
        0 if b.carried else 1,
        b.valid_to,
        1 if carries else 0,
        b.priority,
        b.activated_at,
        b.id,
    )


def data_order(line: Line, catalog: Catalog) -> DataOrder:
    """The line's data buckets in consumption order (cached until the next change)."""
    cached = line.order
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    directional: list[Bucket] = []
    night: list[Bucket] = []
    general: list[Bucket] = []
    for b in line.buckets:
        if b.unit != UNIT_DATA:
            continue
        if b.kind == PackKind.DIRECTIONAL:
            directional.append(b)
        elif b.kind == PackKind.NIGHT:
            night.append(b)
        elif b.kind != PackKind.ASSURED:
            general.append(b)
    keyed = {b.id: _general_key(b, would_carry(b, line, catalog)) for b in line.buckets}
    directional.sort(key=lambda b: keyed[b.id])
    night.sort(key=lambda b: keyed[b.id])
    general.sort(key=lambda b: keyed[b.id])
    order = DataOrder(
        tuple(directional),
        tuple(night),
        tuple(general),
        tuple(b for b in general if b.kind in SHARED_KINDS),
    )
    line.order = order
    return order


def forget_order(line: Line) -> None:
    """Drop the cached order (`clock.reschedule` does, after every change)."""
    line.order = None
