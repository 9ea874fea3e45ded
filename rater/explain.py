"""`rater explain`: why a charge was what it was, from the events alone (pure: events in,
text out). The buckets in consumption order and what each gave, the overage arithmetic
with its rounding, the fee rule, the catalog version; given the catalog, its prices.

The events are read once, in their order (a JSON-lines events file as `rater simulate
--out` writes it, or the output topics): only the matches and a running overage total
per line and cycle are kept, so memory does not grow with the file.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from rater.catalog.model import Catalog
from rater.core.cycles import from_ms
from rater.core.events import (
    ChargeEvent,
    ChargeKind,
    Event,
    NotificationEvent,
    ThrottleEvent,
    Unit,
    UnratedEvent,
)
from rater.core.inputs import UsageType
from rater.core.money import KB, ceil_div
from rater.core.reasons import size_text
from rater.report import read_events_file

__all__ = ["explain", "explain_charge", "find", "read_events_file"]

_PRICE = re.compile(r" at (\d+) fen/MB")


@dataclass(frozen=True, slots=True)
class Match:
    """A matching event and, for a data charge, the line's overage bytes before it."""

    event: Event
    overage_before: int = 0
    plan: str | None = None  # the line's plan by its latest plan fee before the event


def _ids(e: Event) -> tuple[str | None, ...]:
    if isinstance(e, NotificationEvent):
        return (e.event_id, e.command_id)
    return (e.event_id, e.record_id)


def find(events: Iterable[Event], ident: str) -> list[Match]:
    """The events whose event_id, record_id or command_id is `ident`, in their order."""
    before: dict[tuple[str, str], int] = defaultdict(int)
    plans: dict[str, str] = {}
    found: list[Match] = []
    for e in events:
        if isinstance(e, ChargeEvent) and e.kind == ChargeKind.PLAN_FEE and e.product:
            plans[e.msisdn] = e.product
        key: tuple[str, str] | None = None
        overage = 0
        if (
            isinstance(e, ChargeEvent)
            and e.kind == ChargeKind.USAGE
            and e.usage_type == UsageType.DATA
        ):
            key, overage = (e.msisdn, e.cycle), e.overage
        if ident in _ids(e):
            found.append(Match(e, before[key] if key is not None else 0, plans.get(e.msisdn)))
        if key is not None and overage:
            before[key] += overage
    return found


def mb_text(n: int) -> str:
    """Bytes in MB, exact to 1/100 MB (rounded down), deterministic."""
    whole, part = divmod(n * 100 // (1 << 20), 100)
    return f"{whole}.{part:02d}".rstrip("0").rstrip(".") + " MB"


def _amount(n: int, unit: Unit) -> str:
    if unit == Unit.BYTES:
        return f"{mb_text(n)} ({n} B)"
    return f"{n} min"


def _cny(fen: int) -> str:
    return f"{fen} fen = {fen // 100}.{fen % 100:02d} CNY"


def _overage_lines(
    e: ChargeEvent, before: int, plan: str | None, catalog: Catalog | None
) -> list[str]:
    if e.unit == Unit.MINUTES:
        if not e.overage:
            return []
        per_min = e.fen // e.overage
        return [f"  overage: {e.overage} min * {per_min} fen/min = {e.fen} fen"]
    if not e.overage:
        return []
    m = _PRICE.search(e.reason)
    price = int(m.group(1)) if m else None
    if price is None and catalog is not None and plan in catalog.plans:
        price = catalog.plans[plan].data_price_fen_per_mb
    after = before + e.overage
    rows = [
        f"  overage: {_amount(e.overage, e.unit)}, per started KB, priced per MB;"
        f" this cycle's overage before it: {_amount(before, e.unit)}"
    ]
    if price is None:
        rows.append(f"  overage charged: {e.fen} fen (price not known: give --catalog)")
        return rows
    kb_after = ceil_div(after, KB)
    to_date = ceil_div(kb_after * price, KB)
    if before:
        kb_before = ceil_div(before, KB)
        earlier = ceil_div(kb_before * price, KB)
        rows.append(
            f"  overage arithmetic: ceil({kb_after} KB * {price} / 1024) = {to_date} fen to date"
            f" - ceil({kb_before} KB * {price} / 1024) = {earlier} fen before"
            f" = {to_date - earlier} fen"
        )
    else:
        rows.append(f"  overage arithmetic: ceil({kb_after} KB * {price} / 1024) = {to_date} fen")
    return rows


def _prices(catalog: Catalog, products: Iterable[str]) -> list[str]:
    rows = []
    for code in dict.fromkeys(products):
        plan = catalog.plans.get(code)
        pack = catalog.packs.get(code)
        if plan is not None:
            rows.append(
                f"    plan {code} ({plan.name}): fee {plan.fee_fen} fen {plan.fee_mode}; "
                f"data {size_text(plan.data_bytes)}, {plan.voice_min} voice min, "
                f"{plan.video_min} video min; overage {plan.data_price_fen_per_mb} fen/MB, "
                f"{plan.voice_price_fen_per_min} fen/voice min, "
                f"{plan.video_price_fen_per_min} fen/video min"
            )
        elif pack is not None:
            rows.append(
                f"    pack {code} ({pack.name}, {pack.kind}): fee {pack.fee_fen} fen "
                f"{pack.fee_mode}; data {size_text(pack.data_bytes)}"
            )
        else:
            rows.append(f"    {code}: not in this catalog")
    return rows


def explain_charge(
    e: ChargeEvent,
    before: int = 0,
    catalog: Catalog | None = None,
    offset_ms: int = 0,
    plan: str | None = None,
) -> str:
    """One charge event, told in full."""
    rows = [
        f"charge {e.event_id}",
        f"  subscriber {e.msisdn}, account {e.account}, cycle {e.cycle}, "
        f"at {from_ms(e.event_time, offset_ms)}",
    ]
    if e.kind == ChargeKind.USAGE:
        usage = e.usage_type.value if e.usage_type is not None else "?"
        rows.append(f"  record {e.record_id}: {usage}, {_amount(e.quantity, e.unit)}")
        if e.draws:
            rows.append("  draws, in consumption order:")
            for i, d in enumerate(e.draws, 1):
                rows.append(
                    f"    {i}. bucket {d.bucket_id}  product {d.product}  owner {d.owner}  "
                    f"{_amount(d.amount, e.unit)}"
                )
        else:
            rows.append("  draws: none (no bucket gave anything)")
        if plan is not None:
            rows.append(f"  plan: {plan} (by the line's latest plan fee event)")
        rows += _overage_lines(e, before, plan, catalog)
        if e.free:
            rows.append(f"  free: {_amount(e.free, e.unit)}")
    else:
        rows.append(f"  {e.kind.value.lower().replace('_', ' ')} for {e.product}")
    rows.append(f"  charged: {_cny(e.fen)}")
    rows.append(f"  reason: {e.reason}")
    rows.append(f"  catalog version: {e.catalog_version}")
    if catalog is not None:
        products = [d.product for d in e.draws] + [p for p in (e.product, plan) if p]
        note = "" if catalog.version == e.catalog_version else " (NOT the event's version)"
        rows.append(f"  catalog {catalog.version}{note}:")
        rows += _prices(catalog, products) or ["    (no product named by the event)"]
    return "\n".join(rows)


def _other(e: Event, offset_ms: int) -> str:
    at = from_ms(e.event_time, offset_ms)
    if isinstance(e, ThrottleEvent):
        return (
            f"throttle {e.event_id}: {e.action} ({e.reason}) at {at}, "
            f"catalog version {e.catalog_version}"
        )
    if isinstance(e, NotificationEvent):
        return (
            f"notification {e.event_id}: {e.kind} {e.reason} at {at}, "
            f"catalog version {e.catalog_version}"
        )
    if isinstance(e, UnratedEvent):
        return (
            f"unrated {e.event_id}: {e.reason} ({e.detail}) at {at}, "
            f"catalog version {e.catalog_version}"
        )
    return f"{type(e).__name__} {e.event_id}"


def explain(events: Iterable[Event], ident: str, catalog: Catalog | None = None) -> tuple[str, int]:
    """The text for every event matching `ident` (event id, record id or command id) and
    how many matched."""
    offset_ms = catalog.utc_offset_minutes * 60_000 if catalog is not None else 8 * 3_600_000
    found = find(events, ident)
    parts = []
    for m in found:
        e = m.event
        if isinstance(e, ChargeEvent):
            parts.append(explain_charge(e, m.overage_before, catalog, offset_ms, m.plan))
        else:
            parts.append(_other(e, offset_ms))
    return "\n\n".join(parts), len(found)
