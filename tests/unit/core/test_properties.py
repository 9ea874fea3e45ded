"""Property tests of the rating core (hypothesis): invariants that must hold for any
sequence of subscribers, orders, usage records and clock ticks.

1. conservation: every usage charge accounts for its whole quantity;
2. no bucket ever goes below zero or above its size;
3. a cycle's data overage charge does not depend on how the usage is split into records;
4. daily fee parts add up to exactly the fee over a cycle, with or without exhaustion;
5. determinism: the same inputs give the same events and state, byte for byte;
6. a duplicate record id changes nothing;
7. state survives Account.to_dict / JSON / from_dict between batches;
8. ticks are idempotent: many ticks then a record == the last tick then the record;
   and a tick no later than any input still to come changes nothing but timing;
9. event identity: one event_id names one event (same id => equal events), and the same
   inputs give the same ids (sharing groups on D5, replays, late and roaming records).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rater.catalog.model import GB, KB, MB, Catalog, Effective, FeeMode, PackKind
from rater.core.cycles import DAY_MS, cycle_at, to_ms
from rater.core.engine import Input, Outcome, Rater, Status
from rater.core.events import (
    ChargeEvent,
    ChargeKind,
    Event,
    NotificationEvent,
    NotificationKind,
    UnratedEvent,
    UnratedReason,
)
from rater.core.inputs import (
    AddSharingMember,
    CancelProduct,
    ChangePlan,
    CloseAccount,
    Direction,
    NewSubscriber,
    OrderProduct,
    RemoveSharingMember,
    Roaming,
    SetStatus,
    SubscriberStatus,
    Tick,
    UsageRecord,
    UsageType,
)
from rater.core.money import overage_fen_to_date
from rater.core.state import Account
from rater.store import accounts as store_form

from .helpers import example_catalog, pack, plan

CATALOG = example_catalog()
OFFSET_MS = CATALOG.utc_offset_minutes * 60_000
T0 = to_ms("2026-03-01T00:00:00+08:00")
WINDOW_DAYS = 92  # about three months from 2026-03-01
MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS

MSISDNS = ("13800000001", "13800000002", "13800000003", "13800000004")
UNKNOWN = "13999999999"
PROVINCES = ("GD", "BJ", "SH")
PLANS = tuple(CATALOG.plans)
PACKS = tuple(CATALOG.packs)
APPS = (None, "migu.video", "other.app")  # migu.video is the directional pack's app
RATING_GROUPS = (None, 3001, 42)  # 3001 is the directional pack's rating group

# RATER_PROPERTY_EXAMPLES=2000 for a deeper search than the default run (~10 s in all)
EXAMPLES = int(os.environ.get("RATER_PROPERTY_EXAMPLES", "100"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --------------------------------------------------------------------------- driver


@dataclass
class World:
    """Several accounts driven through one Rater: records and commands are routed to the
    account holding their line (a sharing member lives in its owner's account), ticks go
    to every account."""

    catalog: Catalog = field(default_factory=lambda: CATALOG)
    accounts: dict[str, Account] = field(default_factory=dict)
    home: dict[str, str] = field(default_factory=dict)  # msisdn -> account key
    events: list[Event] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rater = Rater(self.catalog)

    def key_of(self, item: UsageRecord | Any) -> str:
        if isinstance(item, NewSubscriber):
            owner = item.owner
            return self.home.get(owner, owner) if owner else item.msisdn
        return self.home.get(item.msisdn, item.msisdn)

    def apply(self, item: Input) -> Outcome:
        if isinstance(item, Tick):
            events: list[Event] = []
            for key in sorted(self.accounts):
                events.extend(self.rater.apply(self.accounts[key], item).events)
            self.events.extend(events)
            return Outcome(None, events)
        key = self.key_of(item)
        outcome = self.rater.apply(self.accounts.get(key), item)
        if outcome.account is not None:
            self.accounts[key] = outcome.account
            for msisdn in outcome.account.lines:
                self.home.setdefault(msisdn, key)
        self.events.extend(outcome.events)
        return outcome

    def state(self) -> dict[str, dict[str, Any]]:
        return {key: acct.to_dict() for key, acct in sorted(self.accounts.items())}

    def round_trip(self) -> None:
        """Persist every account as the stream does between batches, and load it back."""
        self.accounts = {
            key: Account.from_dict(json.loads(json.dumps(acct.to_dict())))
            for key, acct in self.accounts.items()
        }

    def two_part_round_trip(self, stored: dict[str, tuple[bytes, bytes]]) -> None:
        """Persist as the Redis store does (rater.store.accounts): the hot counters every
        time, the cold part only when its bytes differ from what `stored` holds, the
        lines' record keys apart; then load all back."""
        seen = {}
        for key, acct in self.accounts.items():
            cold, hot = store_form.encode(acct)
            last = stored.get(key)
            stored[key] = (cold if last is None or last[0] != cold else last[0], hot)
            seen.update({m: line.seen for m, line in acct.lines.items()})
        self.accounts = {key: store_form.decode(*parts) for key, parts in stored.items()}
        for acct in self.accounts.values():
            for m, line in acct.lines.items():
                line.seen = seen[m]


def dump(events: list[Event]) -> list[str]:
    return [repr(e) for e in events]


def usage_charges(events: list[Event]) -> list[ChargeEvent]:
    return [e for e in events if isinstance(e, ChargeEvent) and e.kind == ChargeKind.USAGE]


# --------------------------------------------------------------------------- strategies
# Built once at module level (building strategies inside a composite is slow).


def at(day: int, minute: int, second: int) -> int:
    """`day` days, `minute` minutes and `second` seconds after 2026-03-01 00:00 local."""
    return T0 + day * DAY_MS + minute * MINUTE_MS + second * 1000


times = st.builds(
    at,
    st.integers(0, WINDOW_DAYS - 1),
    st.integers(0, 1439),  # 23:00 is 1380, 07:00 is 420
    st.sampled_from((0, 0, 1, 59)),
)
volumes = st.one_of(
    st.integers(0, 4 * MB),
    st.integers(0, 4 * GB),
    st.sampled_from([1, 1023, 1024, 30 * MB, 500 * MB, 1 * GB, 2 * GB, 3 * GB]),
)
roamings = st.sampled_from((Roaming.HOME, Roaming.HOME, Roaming.NATIONAL, Roaming.INTERNATIONAL))


def _data(msisdn: str, t: int, nbytes: int, app: str | None, group: int | None,
          province: str, roaming: Roaming) -> UsageRecord:  # fmt: skip
    up = nbytes // 3
    return UsageRecord(
        "", msisdn, UsageType.DATA, t, 60, up, nbytes - up, app, group, province, "LTE", roaming,
        None, 0,
    )  # fmt: skip


def _call(msisdn: str, t: int, video: bool, seconds: int, direction: Direction,
          province: str, roaming: Roaming) -> UsageRecord:  # fmt: skip
    kind = UsageType.VIDEO if video else UsageType.VOICE
    return UsageRecord(
        "", msisdn, kind, t, seconds, 0, 0, None, None, province, "LTE", roaming, direction, 0
    )


def record_strategy(msisdns: tuple[str, ...], when: st.SearchStrategy[int]) -> Any:
    return st.one_of(
        st.builds(
            _data,
            st.sampled_from(msisdns),
            when,
            volumes,
            st.sampled_from(APPS),
            st.sampled_from(RATING_GROUPS),
            st.sampled_from(PROVINCES),
            roamings,
        ),
        st.builds(
            _call,
            st.sampled_from(msisdns),
            when,
            st.booleans(),
            st.one_of(st.integers(0, 180), st.integers(0, 30_000)),
            st.sampled_from((Direction.MO, Direction.MO, Direction.MT)),
            st.sampled_from(PROVINCES),
            roamings,
        ),
    )


RECORDS = record_strategy((*MSISDNS, UNKNOWN), times)


SUB_SPECS = st.tuples(
    st.integers(0, 40),
    st.integers(0, 1439),
    st.sampled_from(PLANS),
    st.one_of(st.just(1), st.integers(1, 28), st.sampled_from((0, 29, 31))),  # 0, 29, 31: rejected
    st.sampled_from(PROVINCES),
    st.lists(st.sampled_from(PACKS), max_size=3),
    st.one_of(st.none(), st.none(), st.none(), st.integers(0, 3)),
)


@st.composite
def subscribers(draw: st.DrawFn) -> list[NewSubscriber]:
    """1-4 distinct subscribers activated in the first 40 days; some share an earlier
    subscriber's data (then they are of its province)."""
    msisdns = draw(st.permutations(MSISDNS))
    specs = draw(st.lists(SUB_SPECS, min_size=1, max_size=len(MSISDNS)))
    subs: list[NewSubscriber] = []
    for m, (day, minute, plan_code, cycle_day, province, packs, share) in zip(
        msisdns, specs, strict=False
    ):
        owner = None
        if subs and share is not None:
            o = subs[share % len(subs)]
            owner, province = o.msisdn, o.home_province
        subs.append(
            NewSubscriber(
                f"new-{m}", m, at(day, minute, 0), plan_code, cycle_day, province, owner,
                tuple(packs),
            )
        )  # fmt: skip
    return subs


# Sharing groups: an owner and the lines that share its data, mostly on D5 (a
# daily_by_usage plan whose 30 MB one record can use up on a member's line and then on
# the owner's), each line with its own cycle day.
GROUP_PLANS = st.sampled_from(("D5",) * 6 + PLANS)
OWNER_SPECS = st.tuples(
    st.integers(0, 30), st.integers(0, 1439), GROUP_PLANS, st.integers(1, 28),
    st.sampled_from(PROVINCES), st.lists(st.sampled_from(PACKS), max_size=2),
)  # fmt: skip
MEMBER_SPECS = st.tuples(
    st.integers(0, 10),  # days after the owner's activation
    st.integers(0, 1439),
    GROUP_PLANS,
    st.integers(1, 28),
    st.lists(st.sampled_from(PACKS), max_size=2),
    st.integers(0, 3),  # 0: a subscriber of its own (AddSharingMember may still try it)
)


@st.composite
def sharing_groups(draw: st.DrawFn) -> list[NewSubscriber]:
    """An owner and 1-3 more lines: the first shares the owner's data, most others too."""
    msisdns = draw(st.permutations(MSISDNS))
    day, minute, plan_code, cycle_day, province, packs = draw(OWNER_SPECS)
    owner, start = msisdns[0], at(day, minute, 0)
    subs = [
        NewSubscriber(f"new-{owner}", owner, start, plan_code, cycle_day, province, None,
                      tuple(packs))
    ]  # fmt: skip
    others = draw(st.lists(MEMBER_SPECS, min_size=1, max_size=len(MSISDNS) - 1))
    for i, (m, (days, minute, plan_code, cycle_day, packs, share)) in enumerate(
        zip(msisdns[1:], others, strict=False)
    ):
        subs.append(
            NewSubscriber(
                f"new-{m}", m, start + days * DAY_MS + minute * MINUTE_MS, plan_code, cycle_day,
                province, owner if share or i == 0 else None, tuple(packs),
            )
        )  # fmt: skip
    return subs


_CID = ""  # commands get their ids in `scenarios`
_LINES = st.sampled_from(MSISDNS)
_PRODUCTS = st.sampled_from((*PACKS, "NOPE"))  # NOPE: not in the catalog
_ORDERS = st.builds(OrderProduct, st.just(_CID), _LINES, times, _PRODUCTS)
COMMANDS = st.one_of(
    _ORDERS,
    _ORDERS,
    _ORDERS,
    _ORDERS,
    st.builds(CancelProduct, st.just(_CID), _LINES, times, _PRODUCTS),
    st.builds(CancelProduct, st.just(_CID), _LINES, times, _PRODUCTS),
    st.builds(ChangePlan, st.just(_CID), _LINES, times, st.sampled_from((*PLANS, "NOPE"))),
    st.one_of(
        st.builds(AddSharingMember, st.just(_CID), _LINES, times, _LINES),
        st.builds(RemoveSharingMember, st.just(_CID), _LINES, times, _LINES),
    ),
    st.one_of(  # rarer: arrears, back to active, closing
        st.builds(SetStatus, st.just(_CID), _LINES, times, st.just(SubscriberStatus.ARREARS)),
        st.builds(SetStatus, st.just(_CID), _LINES, times, st.just(SubscriberStatus.ACTIVE)),
        st.builds(CloseAccount, st.just(_CID), _LINES, times),
    ),
)
DELAYS = st.one_of(
    st.just(0), st.just(0), st.just(0), st.integers(0, 3 * DAY_MS), st.integers(0, 35 * DAY_MS)
)


def _time_of(item: Input) -> int:
    if isinstance(item, UsageRecord):
        return item.start_time
    return item.time


@st.composite
def scenarios(
    draw: st.DrawFn,
    max_records: int = 30,
    max_commands: int = 6,
    people: st.SearchStrategy[list[NewSubscriber]] | None = None,
    commands: st.SearchStrategy[Any] = COMMANDS,
    records: st.SearchStrategy[UsageRecord] = RECORDS,
) -> list[Input]:
    """Subscribers (`people`, else `subscribers()`), then records, orders and ticks over ~3
    months, in time order except that some records are delivered late (possibly after
    their cycle has closed)."""
    subs = draw(people if people is not None else subscribers())
    # records and commands mostly go to the lines just created (UNKNOWN stays unknown)
    to_line = {m: subs[i % len(subs)].msisdn for i, m in enumerate(MSISDNS)}
    n_rec = draw(st.integers(min(5, max_records), max_records))
    recs = [
        dataclasses.replace(r, record_id=f"r{i}", msisdn=to_line.get(r.msisdn, r.msisdn))
        for i, r in enumerate(draw(st.lists(records, min_size=n_rec, max_size=n_rec)))
    ]
    cmds = [
        dataclasses.replace(c, command_id=f"c{i}", msisdn=to_line[c.msisdn])
        for i, c in enumerate(draw(st.lists(commands, max_size=max_commands)))
    ]
    cmds = [
        dataclasses.replace(c, member=to_line[c.member])
        if isinstance(c, AddSharingMember | RemoveSharingMember)
        else c
        for c in cmds
    ]
    ticks = [Tick(t) for t in draw(st.lists(times, max_size=4))]
    delays = draw(st.lists(DELAYS, min_size=len(recs), max_size=len(recs)))
    keyed = [(_time_of(item), i, item) for i, item in enumerate([*subs, *cmds, *ticks])]
    n = len(keyed)
    for i, (rec, delay) in enumerate(zip(recs, delays, strict=True)):
        keyed.append((rec.start_time + delay, n + i, rec))
    keyed.sort(key=lambda x: (x[0], x[1]))
    return [item for _, _, item in keyed]


# --------------------------------------------------------------------------- checks


def check_conservation(events: list[Event]) -> None:
    for c in usage_charges(events):
        drawn = sum(d.amount for d in c.draws)
        assert all(d.amount > 0 for d in c.draws), c
        assert drawn + c.overage + c.free == c.quantity, c
        assert c.overage >= 0 and c.free >= 0 and c.fen >= 0, c


def check_buckets(world: World) -> None:
    for acct in world.accounts.values():
        for line in acct.lines.values():
            for b in line.buckets:
                assert 0 <= b.used <= b.size, (line.msisdn, b)


# --------------------------------------------------------------------------- 1 and 2


@settings(SETTINGS, max_examples=2 * EXAMPLES)
@given(scenarios())
def test_usage_is_conserved_and_buckets_stay_in_bounds(items: list[Input]) -> None:
    world = World()
    for item in items:
        outcome = world.apply(item)
        check_conservation(outcome.events)
        check_buckets(world)


# --------------------------------------------------------------------------- 3


@st.composite
def partitions(draw: st.DrawFn, total: int) -> list[int]:
    """A random split of `total` bytes into records (empty records allowed)."""
    cuts = sorted(draw(st.lists(st.integers(0, total), max_size=30)))
    bounds = [0, *cuts, total]
    return [b - a for a, b in itertools.pairwise(bounds)]


@st.composite
def split_cases(draw: st.DrawFn) -> tuple[int, int, int | None, int, list[int], list[int]]:
    price = draw(st.integers(1, 300))
    allowance = draw(st.sampled_from([0, 1, 1023, 1024, 5 * KB, 1 * MB, 3 * MB]))
    cap = draw(st.one_of(st.none(), st.integers(0, 16 * MB)))
    total = draw(st.one_of(st.integers(0, 20 * MB), st.integers(0, 3 * KB)))
    return price, allowance, cap, total, draw(partitions(total)), draw(partitions(total))


def cycle_overage(
    price: int, allowance: int, cap: int | None, cycle_day: int, day: int, parts: list[int]
) -> list[ChargeEvent]:
    extra = plan(
        "TINY",
        fee_fen=0,
        data_bytes=allowance,
        data_price_fen_per_mb=price,
        fair_use_cap_bytes=cap,
    )
    world = World(example_catalog(TINY=extra))
    start = cycle_at(T0 + 40 * DAY_MS, cycle_day, OFFSET_MS).start
    world.apply(NewSubscriber("new", "A", start, "TINY", cycle_day, "GD"))
    t = start + day * DAY_MS + 8 * HOUR_MS
    for i, n in enumerate(parts):
        world.apply(
            UsageRecord(
                f"r{i}", "A", UsageType.DATA, t + i * 1000, 60, n // 3, n - n // 3,
                None, None, "GD", "LTE", Roaming.HOME, None, 0,
            )
        )  # fmt: skip
    charges = usage_charges(world.events)
    assert len({c.cycle for c in charges}) <= 1
    return charges


@SETTINGS
@given(split_cases(), st.integers(1, 28), st.integers(0, 27))
def test_overage_does_not_depend_on_how_usage_is_split(
    case: tuple[int, int, int | None, int, list[int], list[int]], cycle_day: int, day: int
) -> None:
    price, allowance, cap, total, one, other = case
    a = cycle_overage(price, allowance, cap, cycle_day, day, one)
    b = cycle_overage(price, allowance, cap, cycle_day, day, other)
    merged = cycle_overage(price, allowance, cap, cycle_day, day, [total])
    fen = sum(c.fen for c in merged)
    assert sum(c.fen for c in a) == sum(c.fen for c in b) == fen
    over = sum(c.overage for c in merged)
    assert sum(c.overage for c in a) == sum(c.overage for c in b) == over
    # and the cycle's total is the cumulative rule applied to the cycle's overage
    expected = max(0, min(total, cap if cap is not None else total) - allowance)
    assert over == expected
    assert fen == overage_fen_to_date(expected, price)


# --------------------------------------------------------------------------- 4

# (year, month) whose cycle is 28, 29, 30 or 31 days long for any cycle day 1..28
CYCLE_MONTHS = ((2026, 2), (2028, 2), (2026, 4), (2026, 3), (2026, 6), (2026, 12))


@st.composite
def fee_cases(draw: st.DrawFn) -> dict[str, Any]:
    year, month = draw(st.sampled_from(CYCLE_MONTHS))
    cycle_day = draw(st.integers(1, 28))
    start = to_ms(f"{year:04d}-{month:02d}-{cycle_day:02d}T00:00:00+08:00")
    cycle = cycle_at(start, cycle_day, OFFSET_MS)
    assert cycle.start == start
    activation = start + draw(st.one_of(st.just(0), st.integers(0, DAY_MS - 1)))
    steps = draw(
        st.one_of(
            st.just([DAY_MS]),
            st.lists(st.integers(3 * HOUR_MS, 5 * DAY_MS), min_size=1, max_size=20),
        )
    )
    exhaust: int | None = None
    if draw(st.booleans()):
        exhaust = start + draw(st.integers(0, cycle.days - 1)) * DAY_MS
        exhaust = max(activation, exhaust + draw(st.integers(0, DAY_MS - 1)))
    return dict(
        fee=draw(st.integers(1, 100_000)),
        cycle_day=cycle_day,
        start=start,
        end=cycle.end,
        days=cycle.days,
        activation=activation,
        steps=steps,
        exhaust=exhaust,
        calls=draw(st.lists(st.integers(0, cycle.days * DAY_MS - 1), max_size=4)),
    )


@SETTINGS
@given(fee_cases())
def test_daily_fee_parts_add_up_to_the_fee(case: dict[str, Any]) -> None:
    fee, start, end, days = case["fee"], case["start"], case["end"], case["days"]
    daily = plan(
        "DAILY", fee_fen=fee, fee_mode=FeeMode.DAILY_BY_USAGE, data_bytes=30 * MB, voice_min=5
    )
    world = World(example_catalog(DAILY=daily))
    world.apply(NewSubscriber("new", "A", case["activation"], "DAILY", case["cycle_day"], "GD"))
    cycle_id = world.accounts["A"].lines["A"].cycle_id
    assert world.accounts["A"].lines["A"].cycle_days == days
    usage: list[UsageRecord] = []
    for i, dt in enumerate(case["calls"]):  # voice minutes used up must not settle the fee
        t = max(case["activation"], start + dt)
        usage.append(
            UsageRecord(
                f"v{i}", "A", UsageType.VOICE, t, 600, 0, 0, None, None, "GD", "LTE",
                Roaming.HOME, Direction.MO, 0,
            )
        )  # fmt: skip
    if case["exhaust"] is not None:
        usage.append(
            UsageRecord(
                "x", "A", UsageType.DATA, case["exhaust"], 60, 0, 30 * MB, None, None, "GD",
                "LTE", Roaming.HOME, None, 0,
            )
        )  # fmt: skip
    usage.sort(key=lambda r: r.start_time)
    t = case["activation"]
    i = 0
    while t < end:
        t = min(end, t + case["steps"][i % len(case["steps"])])
        i += 1
        while usage and usage[0].start_time <= t:
            world.apply(usage.pop(0))
        world.apply(Tick(t))
    fees = [
        c
        for c in world.events
        if isinstance(c, ChargeEvent) and c.kind == ChargeKind.PLAN_FEE and c.cycle == cycle_id
    ]
    assert sum(c.fen for c in fees) == fee
    assert all(c.fen > 0 and start <= c.event_time <= end for c in fees)
    assert [c.event_time for c in fees] == sorted(c.event_time for c in fees)
    assert len({c.event_id for c in fees}) == len(fees)
    if case["exhaust"] is None:
        assert all(c.reason.startswith("daily fee") for c in fees)
        assert max(c.event_time for c in fees) == end  # the last day's part is ceil(fee/N)
    else:
        # the rest is charged when the data runs out, and nothing for the fee after that
        rest = [c for c in fees if c.reason.startswith("allowance used up")]
        assert len(rest) <= 1
        assert all(c.event_time <= case["exhaust"] for c in fees)
        if rest:
            assert rest[0].event_time == case["exhaust"]
            assert rest[0] is fees[-1]


# --------------------------------------------------------------------------- 5


@SETTINGS
@given(scenarios())
def test_the_same_inputs_give_the_same_events_and_state(items: list[Input]) -> None:
    one, two = World(), World()
    for item in items:
        a, b = one.apply(item), two.apply(item)
        assert a.status == b.status
    assert dump(one.events) == dump(two.events)
    assert [dataclasses.asdict(e) for e in one.events] == [
        dataclasses.asdict(e) for e in two.events
    ]
    assert json.dumps(one.state(), sort_keys=True) == json.dumps(two.state(), sort_keys=True)


# --------------------------------------------------------------------------- 6


@SETTINGS
@given(scenarios(), st.data())
def test_a_duplicate_record_changes_nothing(items: list[Input], data: st.DataObject) -> None:
    """Whatever the first delivery did (charged, or unrated: late, roaming, closed, ...), a
    second delivery in the same cycle changes nothing: within the duplicate window it is a
    DUPLICATE (no event); after it, LATE (an unrated event, never a charge)."""
    world = World()
    taken: list[tuple[UsageRecord, str]] = []  # record, the cycle of its line at delivery
    window = world.rater.rt.duplicate_window_ms

    def replay(rec: UsageRecord) -> None:
        before = world.state()
        latest = world.accounts[world.key_of(rec)].lines[rec.msisdn].last_usage
        again = world.apply(rec)
        if rec.start_time >= latest - window:
            assert again.status == Status.DUPLICATE
            assert again.events == []
        else:
            [late] = again.events
            assert isinstance(late, UnratedEvent) and late.reason == UnratedReason.LATE
        assert world.state() == before

    for item in items:
        outcome = world.apply(item)
        if isinstance(item, UsageRecord) and outcome.status == Status.APPLIED:
            assert any(getattr(e, "record_id", None) == item.record_id for e in outcome.events)
            taken.append((item, world.accounts[world.key_of(item)].lines[item.msisdn].cycle_id))
            if data.draw(st.booleans(), label="replay at once"):
                replay(item)
        if taken and data.draw(st.integers(0, 3), label="replay an earlier one") == 0:
            rec, cycle = data.draw(st.sampled_from(taken), label="which")
            if world.accounts[world.key_of(rec)].lines[rec.msisdn].cycle_id == cycle:
                replay(rec)  # still the same cycle


# --------------------------------------------------------------------------- 7


@SETTINGS
@given(scenarios(), st.data())
def test_state_survives_serialization_between_batches(
    items: list[Input], data: st.DataObject
) -> None:
    live, stored = World(), World()
    for item in items:
        a, b = live.apply(item), stored.apply(item)
        assert dump(a.events) == dump(b.events)
        assert a.status == b.status
        if data.draw(st.booleans(), label="end of batch"):
            snapshot = stored.state()
            assert json.loads(json.dumps(snapshot)) == snapshot
            stored.round_trip()
            assert stored.state() == snapshot
    assert dump(live.events) == dump(stored.events)
    assert live.state() == stored.state()


@SETTINGS
@given(scenarios(), st.data())
def test_state_survives_the_two_part_store_between_batches(
    items: list[Input], data: st.DataObject
) -> None:
    """Whatever the core changes, the hot counters plus the cold part (rewritten only
    when its bytes changed) give back exactly the account."""
    live, stored = World(), World()
    parts: dict[str, tuple[bytes, bytes]] = {}
    for item in items:
        a, b = live.apply(item), stored.apply(item)
        assert dump(a.events) == dump(b.events)
        if data.draw(st.booleans(), label="end of batch"):
            snapshot = stored.state()
            stored.two_part_round_trip(parts)
            assert stored.state() == snapshot
    assert dump(live.events) == dump(stored.events)
    assert live.state() == stored.state()


# --------------------------------------------------------------------------- 8


@SETTINGS
@given(
    scenarios(max_records=15),
    st.lists(st.integers(0, 40 * DAY_MS), min_size=1, max_size=8),
    st.data(),
)
def test_many_ticks_then_a_record_equal_the_last_tick_then_the_record(
    items: list[Input], gaps: list[int], data: st.DataObject
) -> None:
    t = max((_time_of(i) for i in items), default=T0)
    ticks = []
    for g in gaps:
        t += g + 1
        ticks.append(t)
    when = st.integers(T0, ticks[-1] + 10 * DAY_MS)
    rec = dataclasses.replace(data.draw(record_strategy(MSISDNS, when)), record_id="last")
    many, once = World(), World()
    for item in items:
        many.apply(item)
        once.apply(item)
    n = len(many.events)
    for tk in ticks:
        many.apply(Tick(tk))
    many.apply(rec)
    once.apply(Tick(ticks[-1]))
    once.apply(rec)
    assert Counter(dump(many.events[n:])) == Counter(dump(once.events[n:]))
    assert many.state() == once.state()


@SETTINGS
@given(scenarios(), st.data())
def test_ticks_that_no_later_input_precedes_change_nothing(
    items: list[Input], data: st.DataObject
) -> None:
    """A tick at a time no later than every input still to come (the stream's periodic
    tick between records) only moves forward what those inputs would have done anyway."""
    plain, ticked = World(), World()
    for i, item in enumerate(items):
        if data.draw(st.integers(0, 2), label="tick first") == 0:
            horizon = min(_time_of(x) for x in items[i:])
            ticked.apply(Tick(data.draw(st.integers(horizon - 40 * DAY_MS, horizon))))
        plain.apply(item)
        ticked.apply(item)
    end = max(_time_of(x) for x in items)
    plain.apply(Tick(end))
    ticked.apply(Tick(end))
    assert Counter(dump(plain.events)) == Counter(dump(ticked.events))
    assert plain.state() == ticked.state()


def test_notifications_of_a_bucket_are_sent_once_per_cycle() -> None:
    """A sanity check of the drivers above: a plain subscriber gets 80% and 100% once."""
    world = World()
    world.apply(NewSubscriber("new", "A", T0, "P58", 1, "GD"))
    for i in range(5):
        world.apply(
            UsageRecord(
                f"r{i}", "A", UsageType.DATA, T0 + (i + 1) * HOUR_MS * 10, 60, 0, 1 * GB, None,
                None, "GD", "LTE", Roaming.HOME, None, 0,
            )
        )  # fmt: skip
    kinds = [e.kind for e in world.events if isinstance(e, NotificationEvent)]
    assert kinds.count(NotificationKind.USAGE_80) == 1
    assert kinds.count(NotificationKind.USAGE_100) == 1


# --------------------------------------------------------------------------- 9

AFTER = T0 + (WINDOW_DAYS + 40) * DAY_MS  # later than every generated time
# plus a top-up that takes effect next cycle: it can be pending twice
IDENTITY_CATALOG = example_catalog(
    TNEXT=pack("TNEXT", PackKind.TOPUP, fee_fen=700, effective=Effective.NEXT_CYCLE)
)
IDENTITY_COMMANDS = st.one_of(
    COMMANDS, st.builds(OrderProduct, st.just(_CID), _LINES, times, st.just("TNEXT"))
)
# plus records of 30-90 MB at home: one can use up a member's D5 and then its owner's
IDENTITY_RECORDS = st.one_of(
    RECORDS,
    st.builds(
        _data,
        st.sampled_from(MSISDNS),
        times,
        st.integers(30 * MB, 90 * MB),
        st.just(None),
        st.just(None),
        st.just("GD"),
        st.just(Roaming.HOME),
    ),
)
_GROUP_SCENARIOS = scenarios(
    max_commands=10, people=sharing_groups(), commands=IDENTITY_COMMANDS, records=IDENTITY_RECORDS
)
IDENTITY_SCENARIOS = st.one_of(  # two in three with a sharing group
    _GROUP_SCENARIOS,
    _GROUP_SCENARIOS,
    scenarios(max_commands=10, commands=IDENTITY_COMMANDS, records=IDENTITY_RECORDS),
)
# the same once-fee pack ordered twice in a row by one line (TNEXT: for next cycle)
TWIN_ORDERS = st.lists(
    st.tuples(st.integers(0, 3), times, st.sampled_from(("TNEXT", "TNEXT", "T1G", "ME500"))),
    max_size=2,
)


@st.composite
def replayed_workloads(draw: st.DrawFn) -> list[Input]:
    """A scenario (mostly a sharing group), maybe with twin orders, then two ticks a cycle
    apart, and replays of some of its records (the same record again, anywhere after its
    first delivery: a duplicate while its cycle runs, late once the cycle has closed, late
    again a cycle later)."""
    items: list[Input] = list(draw(IDENTITY_SCENARIOS))
    lines = [item.msisdn for item in items if isinstance(item, NewSubscriber)]
    for n, (i, t, code) in enumerate(draw(TWIN_ORDERS)):
        k = next((k for k, item in enumerate(items) if _time_of(item) > t), len(items))
        m = lines[i % len(lines)]
        items[k:k] = [OrderProduct(f"twin{n}a", m, t, code), OrderProduct(f"twin{n}b", m, t, code)]
    items += [Tick(AFTER), Tick(AFTER + 31 * DAY_MS)]
    records = [i for i, item in enumerate(items) if isinstance(item, UsageRecord)]
    replays = draw(
        st.lists(st.tuples(st.sampled_from(records), st.integers(0, len(items) - 1)), max_size=12)
    )
    after: dict[int, list[Input]] = {}
    for i, j in replays:
        after.setdefault(max(i, j), []).append(items[i])
    return [x for k, item in enumerate(items) for x in (item, *after.get(k, ()))]


def _record(rid: str, msisdn: str, t: int, nbytes: int, roaming: Roaming) -> UsageRecord:
    return dataclasses.replace(_data(msisdn, t, nbytes, None, None, "GD", roaming), record_id=rid)


# Always tried: the cases that once shared an id. B (cycle day 15) shares A's data, both on
# D5: r0 uses up B's 30 MB, then A's (a rest-of-fee charge and two notifications on each
# line, both buckets "D5.data#1"). r1 is roaming, then late in April's cycle, then in
# May's; r0 is late too. TNEXT is pending twice when April starts.
_A, _B = MSISDNS[:2]
_R0 = _record("r0", _B, at(4, 720, 0), 64 * MB, Roaming.HOME)
_R1 = _record("r1", _A, at(5, 720, 0), 1 * MB, Roaming.INTERNATIONAL)
IDENTITY_EXAMPLE: list[Input] = [
    NewSubscriber("new-A", _A, at(0, 0, 0), "D5", 1, "GD"),
    NewSubscriber("new-B", _B, at(1, 0, 0), "D5", 15, "GD", _A),
    OrderProduct("c0", _A, at(2, 0, 0), "TNEXT"),
    OrderProduct("c1", _A, at(3, 0, 0), "TNEXT"),
    _R0,
    _R1,
    _R1,
    Tick(at(40, 0, 0)),
    _R1,
    _R0,
    Tick(at(70, 0, 0)),
    _R1,
]


@SETTINGS
@given(replayed_workloads())
@example(IDENTITY_EXAMPLE)
def test_an_event_id_names_exactly_one_event(items: list[Input]) -> None:
    """Whatever the inputs, two events with the same id are the same event, and the same
    inputs name their events the same way again (a re-emission after a crash or a replay
    is recognisably the same event). Duplicates within the window emit nothing; a record
    delivered again after it is LATE again: the only id that may repeat, on the very same
    event (rater.core.duplicates)."""
    one, two = World(IDENTITY_CATALOG), World(IDENTITY_CATALOG)
    for item in items:
        one.apply(item)
        two.apply(item)
    by_id: dict[str, Event] = {}
    for e in one.events:
        first = by_id.setdefault(e.event_id, e)
        assert first == e, (first, e)
    repeated = [i for i, n in Counter(e.event_id for e in one.events).items() if n > 1]
    for i in repeated:
        again = by_id[i]
        assert isinstance(again, UnratedEvent) and again.reason == UnratedReason.LATE, again
    assert [e.event_id for e in one.events] == [e.event_id for e in two.events]
