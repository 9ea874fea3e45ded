"""A batch's duplicate questions and answers: which record keys of the batch each line
already has (asked of the store once per batch), and what the store must change in the
lines' duplicate buckets afterwards (`rater.core.duplicates` for the rule)."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from rater.core.cycles import DAY_MS
from rater.core.duplicates import dropped_days, note_key
from rater.core.inputs import UsageRecord
from rater.core.state import Account, Line
from rater.pipeline.align import Arrival
from rater.store.base import SeenChange, SeenKeys


def mark_seen(
    usage: list[Arrival],
    accounts: dict[str, Account],
    seen: Callable[[SeenKeys], dict[str, dict[int, set[int]]]],
) -> dict[str, dict[int, set[int]]]:
    """Give each line of the batch's accounts the keys of the batch's records it already
    has, and nothing else (a cached line may hold an earlier batch's); returns them."""
    for acct in accounts.values():
        for line in acct.lines.values():
            line.seen = {}
    wanted: dict[str, dict[int, list[int]]] = {}
    lines: dict[str, Line] = {}
    for _, _, item, akey in usage:
        rec = cast(UsageRecord, item)  # `usage` holds records only
        owner = accounts.get(akey) if akey is not None else None
        at = owner.lines.get(rec.msisdn) if owner is not None else None
        if at is None:
            continue  # unknown here: a dead letter, or created by a command of this batch
        days = wanted.get(rec.msisdn)
        if days is None:
            days = wanted[rec.msisdn] = {}
            lines[rec.msisdn] = at
        note_key(days, rec.start_time, rec.record_id)
    if not wanted:
        return {}
    found = seen(wanted)
    for msisdn, line in lines.items():
        line.seen = {day: set(keys) for day, keys in found.get(msisdn, {}).items()}
    return found


def seen_changes(
    changes: dict[str, SeenChange],
    acct: Account,
    usage_at_load: dict[str, int],
    found: dict[str, dict[int, set[int]]],
    window: int,
) -> None:
    """What the store must change in the duplicate buckets of `acct`'s lines: the keys
    the batch added (beyond those it found), and the days a line's latest record moved
    out of its window (`rater.core.duplicates.dropped_days`)."""
    for msisdn, line in acct.lines.items():
        after = line.last_usage
        before = usage_at_load.get(msisdn, 0)
        if after == before and not line.seen:
            continue
        first = (after - window) // DAY_MS  # first_kept_day, inline: once per line
        dropped: list[int] = []
        if before and first > (before - window) // DAY_MS:
            dropped = list(dropped_days(before, after, window))
        had = found.get(msisdn)
        added: dict[int, list[int]] = {}
        for day, keys in line.seen.items():
            if day < first:
                continue  # out of the window already: never looked at again
            old = had.get(day) if had else None
            new = keys - old if old else keys
            if new:
                added[day] = list(new)
        if added or dropped:
            changes[msisdn] = SeenChange(added, dropped)
