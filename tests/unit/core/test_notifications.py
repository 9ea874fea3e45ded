"""Usage notifications: 80% and 100% of a bucket, each once per bucket per cycle, and
again in the next cycle (rater.catalog.decisions.NOTIFY_THRESHOLDS)."""

from __future__ import annotations

from rater.catalog.model import GB, MB
from rater.core.events import Event, NotificationEvent, NotificationKind

from .helpers import Harness

APRIL = "2026-04-01T00:00:00+08:00"
USAGE = (NotificationKind.USAGE_80, NotificationKind.USAGE_100)


def _usage_notes(events: list[Event]) -> list[tuple[NotificationKind, str | None, str]]:
    return [
        (e.kind, e.product, e.cycle)
        for e in events
        if isinstance(e, NotificationEvent) and e.kind in USAGE
    ]


def test_rule_notify_80_percent_is_reached_at_the_exact_byte() -> None:
    # CARD: 1 GB = 1 073 741 824 B; 80% = 858 993 459.2 B, so the first byte count at or
    # above it is 858 993 460.
    h = Harness()
    h.subscribe("A", "CARD", APRIL)
    assert _usage_notes(h.data("A", "2026-04-02T12:00:00+08:00", 858_993_459).events) == []
    out = h.data("A", "2026-04-02T13:00:00+08:00", 1)
    [note] = [e for e in out.events if isinstance(e, NotificationEvent)]
    assert (note.kind, note.product, note.msisdn) == (NotificationKind.USAGE_80, "CARD", "A")
    assert note.bucket_id == next(b.id for b in h.line("A").buckets if b.product == "CARD")


def test_rule_notify_80_and_100_percent_once_per_bucket_per_cycle() -> None:
    h = Harness()
    h.subscribe("A", "CARD", APRIL)
    h.data("A", "2026-04-02T12:00:00+08:00", 900 * MB)  # 87.9%
    h.data("A", "2026-04-02T13:00:00+08:00", 100 * MB)  # 97.7%: no second 80% note
    h.data("A", "2026-04-02T14:00:00+08:00", 24 * MB)  # 1 024 MB: used up
    h.data("A", "2026-04-02T15:00:00+08:00", 500 * MB)  # overage: nothing more
    assert _usage_notes(h.events) == [
        (NotificationKind.USAGE_80, "CARD", "2026-04-01"),
        (NotificationKind.USAGE_100, "CARD", "2026-04-01"),
    ]


def test_rule_notify_one_record_past_both_thresholds_sends_both() -> None:
    h = Harness()
    h.subscribe("A", "CARD", APRIL)
    out = h.data("A", "2026-04-02T12:00:00+08:00", 2 * GB)
    assert [k for k, _, _ in _usage_notes(out.events)] == list(USAGE)


def test_rule_notify_each_bucket_has_its_own_thresholds() -> None:
    h = Harness()
    h.subscribe("A", "P58", APRIL, packs=("T1G",))
    # 3.5 GB: P58 3 GB (80% and 100%), then T1G 512 MB (50%: nothing)
    out = h.data("A", "2026-04-02T12:00:00+08:00", 3 * GB + 512 * MB)
    assert _usage_notes(out.events) == [
        (NotificationKind.USAGE_80, "P58", "2026-04-01"),
        (NotificationKind.USAGE_100, "P58", "2026-04-01"),
    ]
    out = h.data("A", "2026-04-02T13:00:00+08:00", 512 * MB)
    assert _usage_notes(out.events) == [
        (NotificationKind.USAGE_80, "T1G", "2026-04-01"),
        (NotificationKind.USAGE_100, "T1G", "2026-04-01"),
    ]


def test_rule_notify_again_in_the_next_cycle() -> None:
    h = Harness()
    h.subscribe("A", "CARD", APRIL)
    h.data("A", "2026-04-02T12:00:00+08:00", 1 * GB)
    h.tick("2026-05-01T00:00:00+08:00")
    h.data("A", "2026-05-02T12:00:00+08:00", 820 * MB)  # 80.1%
    h.data("A", "2026-05-02T13:00:00+08:00", 204 * MB)  # 100%
    assert _usage_notes(h.events) == [
        (NotificationKind.USAGE_80, "CARD", "2026-04-01"),
        (NotificationKind.USAGE_100, "CARD", "2026-04-01"),
        (NotificationKind.USAGE_80, "CARD", "2026-05-01"),
        (NotificationKind.USAGE_100, "CARD", "2026-05-01"),
    ]


def test_rule_notify_ids_are_distinct_so_none_is_lost_as_a_duplicate() -> None:
    h = Harness()
    h.subscribe("A", "CARD", APRIL)
    h.data("A", "2026-04-02T12:00:00+08:00", 1 * GB)
    h.tick("2026-05-01T00:00:00+08:00")
    h.data("A", "2026-05-02T12:00:00+08:00", 1 * GB)
    ids = [e.event_id for e in h.events]
    assert len(ids) == len(set(ids))
