"""Product decisions the handbook leaves open ([decision] in rating-rules.md), in one place.

Per-product decisions (fees, validity, priority, carry-over) live in the catalog; the
ones here are rules of the engine that an operator could still want to change.
"""

from __future__ import annotations

from rater.catalog.model import PackKind

# A bucket of these kinds may carry unused data into the next cycle (section 6), if its
# product says it carries over.
CARRY_KINDS = frozenset({"plan", PackKind.RECURRING, PackKind.NIGHT})

# Sharing members draw on the owner's buckets of these kinds only (section 8).
SHARED_KINDS = frozenset({"plan", PackKind.RECURRING})

# Kinds renewed to full at each cycle start while subscribed (section 6).
RENEWING_KINDS = frozenset(
    {PackKind.RECURRING, PackKind.DIRECTIONAL, PackKind.NIGHT, PackKind.ASSURED}
)

# Removed at the next cycle start (section 6); term packs expire by their own validity.
CYCLE_BOUND_KINDS = frozenset({PackKind.TOPUP, PackKind.MONTH_END})

# A subscriber may hold at most one of each of these at a time (section 4).
SINGLE_INSTANCE_KINDS = frozenset(
    {PackKind.NIGHT, PackKind.TERM, PackKind.RECURRING, PackKind.DIRECTIONAL, PackKind.ASSURED}
)

# Cancelling these removes the bucket at once (no refund); the others stop renewing
# and keep their bucket to the end of the cycle.
CANCEL_AT_ONCE_KINDS = frozenset({PackKind.TOPUP, PackKind.TERM, PackKind.DIRECTIONAL})

MIN_CYCLE_DAY = 1
MAX_CYCLE_DAY = 28
DEFAULT_CYCLE_DAY = 1

# Ordering a data pack while throttled restores the speed (section 7), unless the
# throttle came from the plan's fair-use cap: that cap is on the cycle's whole usage,
# so new data does not lift it.
RESTORE_ON_PACK_ORDER = True

# Notification thresholds (percent of a bucket), each sent once per bucket per cycle.
NOTIFY_THRESHOLDS = (80, 100)


class Reject:
    """Order and command rejection reasons, as they appear on the output."""

    UNKNOWN_PRODUCT = "UNKNOWN_PRODUCT"
    UNKNOWN_PLAN = "UNKNOWN_PLAN"
    UNKNOWN_SUBSCRIBER = "UNKNOWN_SUBSCRIBER"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    ACCOUNT_CLOSED = "ACCOUNT_CLOSED"
    ACCOUNT_IN_ARREARS = "ACCOUNT_IN_ARREARS"
    MONTH_END_LIMIT = "MONTH_END_LIMIT"
    TERM_PACK_ACTIVE = "TERM_PACK_ACTIVE"
    ALREADY_HELD = "ALREADY_HELD"
    NOT_HELD = "NOT_HELD"
    SAME_PLAN = "SAME_PLAN"
    BAD_CYCLE_DAY = "BAD_CYCLE_DAY"
    SHARING_PROVINCE = "SHARING_PROVINCE"
    SHARING_NOT_IN_ACCOUNT = "SHARING_NOT_IN_ACCOUNT"
    SHARING_INVALID = "SHARING_INVALID"
