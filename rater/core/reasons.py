"""Why a usage charge is what it is, in words on the charge event: the draws in
consumption order, the overage arithmetic with its rounding, what was free and why.
Built only for the event being emitted, and bounded in length (REASON_MAX)."""

from __future__ import annotations

from collections.abc import Callable

from rater.core.events import Draw
from rater.core.runtime import Runtime
from rater.core.state import Line

REASON_MAX = 300  # a charge's `reason` never grows longer than this
REASON_DRAWS = 4  # draws named in a reason; more are counted ("+2 more")


_GB, _MB, _KB = 1 << 30, 1 << 20, 1 << 10


def size_text(n: int) -> str:
    """Bytes for a person, exact to 1/100 of the unit (rounded down), deterministic:
    1 GB, 1.5 MB, 100 B."""
    if n >= _GB:
        size, unit = _GB, " GB"
    elif n >= _MB:
        size, unit = _MB, " MB"
    elif n >= _KB:
        size, unit = _KB, " KB"
    else:
        return f"{n} B"
    q, r = divmod(n * 100 // size, 100)
    if not r:
        return f"{q}{unit}"
    if r % 10:
        return f"{q}.{r:02d}{unit}"
    return f"{q}.{r // 10}{unit}"


def _bounded(text: str) -> str:
    return text if len(text) <= REASON_MAX else text[: REASON_MAX - 3] + "..."


def _draws_text(rt: Runtime, line: Line, draws: list[Draw], amount: Callable[[int], str]) -> str:
    parts = []
    for d in draws[:REASON_DRAWS]:
        pack = rt.catalog.packs.get(d.product)
        what = f" ({pack.kind} pack)" if pack is not None else ""
        whose = f" of {d.owner}" if d.owner != line.msisdn else ""
        parts.append(f"{amount(d.amount)} from {d.bucket_id}{what}{whose}")
    if len(draws) > REASON_DRAWS:
        parts.append(f"+{len(draws) - REASON_DRAWS} more")
    return ", ".join(parts)


def data_reason(
    rt: Runtime,
    line: Line,
    volume: int,
    draws: list[Draw],
    overage: int,
    free: int,
    fen: int,
    price: int,
    before_fen: int,
    free_why: str,
) -> str:
    """How a data charge was computed (built only for the charge event being emitted):
    the draws in consumption order, the overage arithmetic with its rounding, what was
    free and why. At most REASON_MAX characters."""
    vol = size_text(volume)
    if len(draws) == 1 and not overage and not free:  # the common case, kept cheap
        d = draws[0]
        pack = rt.catalog.packs.get(d.product)
        what = f" ({pack.kind} pack)" if pack is not None else ""
        whose = f" of {d.owner}" if d.owner != line.msisdn else ""
        amount = vol if d.amount == volume else size_text(d.amount)
        return _bounded(f"data {vol}: {amount} from {d.bucket_id}{what}{whose}")
    text = f"data {vol}"
    if draws:
        text += ": " + _draws_text(rt, line, draws, size_text)
    if overage:
        kb = -(-line.overage_bytes // 1024)
        after = line.overage_fen
        if before_fen:
            text += (
                f"; overage {size_text(overage)} at {price} fen/MB: cycle to date "
                f"ceil({kb} KB * {price} / 1024) = {after} fen - {before_fen} fen before"
                f" = {fen} fen"
            )
        else:
            text += (
                f"; overage {size_text(overage)} at {price} fen/MB = "
                f"ceil({kb} KB * {price} / 1024) = {fen} fen"
            )
    if free:
        text += f"; {size_text(free)} free ({free_why})"
    if not draws and not overage and not free:
        text += ": nothing to draw"
    return _bounded(text)


def call_reason(
    rt: Runtime, line: Line, kind: str, minutes: int, draws: list[Draw], overage: int, price: int
) -> str:
    """How a voice or video charge was computed: minutes, draws, overage price."""
    text = f"{kind} {minutes} min"
    if draws:
        text += ": " + _draws_text(rt, line, draws, lambda n: f"{n} min")
    if overage:
        text += f"; overage {overage} min at {price} fen/min = {overage * price} fen"
    return _bounded(text)
