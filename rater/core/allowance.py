"""Drawing on one bucket, and what a draw sets off: the usage notifications of section 11
(each threshold of `NOTIFY_THRESHOLDS` once per bucket per cycle) and, when the draw
uses the bucket up, the end of a daily fee (section 3, `fees.bucket_used_up`)."""

from __future__ import annotations

from typing import Final

from rater.catalog.decisions import NOTIFY_THRESHOLDS
from rater.core import emit, fees
from rater.core.events import Draw, Event, NotificationKind, new_draw
from rater.core.runtime import Runtime
from rater.core.state import Bucket, Line

# What each threshold says; its event id is "n{percent}:..." (rater.core.events).
NOTICES: Final = {
    80: (NotificationKind.USAGE_80, "80% of the allowance used"),
    100: (NotificationKind.USAGE_100, "allowance used up"),
}
_FIRST: Final = NOTIFY_THRESHOLDS[0]
_LAST: Final = NOTIFY_THRESHOLDS[-1]


def take(
    rt: Runtime,
    out: list[Event],
    owner: Line,
    b: Bucket,
    want: int,
    t: int,
    draws: list[Draw],
) -> int:
    """Draw up to `want` from bucket `b` of line `owner`; returns what is still wanted."""
    if not (b.valid_from <= t < b.valid_to):
        return want
    avail = b.size - b.used
    if avail <= 0:
        return want
    take = avail if avail < want else want
    b.used += take
    draws.append(new_draw(b.id, b.product, owner.msisdn, take))
    if b.notified < _LAST and b.used * 100 >= b.size * _FIRST:  # one comparison, mostly
        notify_thresholds(rt, out, owner, b, t)
    if take == avail:  # this draw used the bucket up: once per bucket per cycle
        fees.bucket_used_up(rt, out, owner, b, t)
    return want - take


def notify_thresholds(rt: Runtime, out: list[Event], owner: Line, b: Bucket, t: int) -> None:
    """Each threshold reached and not yet sent (`b.notified`, reset when the bucket
    renews), in rising order; one draw may reach several. The ids name the cycle of the
    bucket's line, so each is sent again, and kept apart, in the next cycle."""
    for percent in NOTIFY_THRESHOLDS:
        if b.notified < percent and b.used * 100 >= b.size * percent:
            b.notified = percent
            kind, text = NOTICES[percent]
            emit.notify(
                rt,
                out,
                owner,
                f"n{percent}:{owner.msisdn}:{owner.cycle_id}:{b.id}",
                t,
                kind,
                text,
                b.product,
                b.id,
            )
