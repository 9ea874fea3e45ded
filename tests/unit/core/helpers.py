"""A small in-process harness: the example catalog of rating-rules.md section 12 built in
code, and a driver that feeds inputs to the core for one account. Starts nothing."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from rater.catalog.model import (
    GB,
    MB,
    Catalog,
    Effective,
    FeeMode,
    NightWindow,
    Pack,
    PackKind,
    Plan,
)
from rater.core.cycles import to_ms
from rater.core.engine import Outcome, Rater
from rater.core.events import ChargeEvent, Event, NotificationEvent, ThrottleEvent
from rater.core.inputs import (
    Command,
    Direction,
    NewSubscriber,
    OrderProduct,
    Roaming,
    Tick,
    UsageRecord,
    UsageType,
)
from rater.core.state import Account, Line


def plan(code: str, **kw: object) -> Plan:
    base: dict[str, object] = dict(
        code=code,
        name=code,
        fee_fen=5800,
        fee_mode=FeeMode.MONTHLY,
        data_bytes=3 * GB,
        voice_min=300,
        video_min=0,
        data_price_fen_per_mb=29,
        voice_price_fen_per_min=19,
        video_price_fen_per_min=29,
    )
    base.update(kw)
    return Plan(**base)  # type: ignore[arg-type]


def pack(code: str, kind: PackKind, **kw: object) -> Pack:
    default_mode = {
        PackKind.TOPUP: FeeMode.ONCE,
        PackKind.MONTH_END: FeeMode.ONCE,
        PackKind.TERM: FeeMode.ONCE,
        PackKind.DIRECTIONAL: FeeMode.DAILY_BY_USAGE,
    }.get(kind, FeeMode.MONTHLY)
    base: dict[str, object] = dict(
        code=code,
        name=code,
        kind=kind,
        fee_fen=1000,
        fee_mode=default_mode,
        data_bytes=1 * GB,
        carries_over=kind in (PackKind.RECURRING, PackKind.NIGHT),
    )
    if kind == PackKind.MONTH_END:
        base["max_orders_per_cycle"] = 5
    base.update(kw)
    return Pack(**base)  # type: ignore[arg-type]


def example_catalog(**extra: Plan | Pack) -> Catalog:
    plans = [
        plan("P58"),
        plan("D5", fee_fen=500, fee_mode=FeeMode.DAILY_BY_USAGE, data_bytes=30 * MB, voice_min=0),
        plan("CAP", fee_fen=1000, data_bytes=1 * GB, fair_use_cap_bytes=2 * GB, throttle_kbps=1024),
        plan("CARD", fee_fen=2000, data_bytes=1 * GB, carries_over=False),
        plan("P88", fee_fen=8800, data_bytes=10 * GB, effective=Effective.NEXT_CYCLE),
    ]
    packs = [
        pack("N2G", PackKind.NIGHT, data_bytes=2 * GB),
        pack(
            "DMIGU",
            PackKind.DIRECTIONAL,
            data_bytes=6 * GB,
            fee_fen=900,
            apps=frozenset({"migu.video"}),
            rating_groups=frozenset({3001}),
        ),
        pack("T1G", PackKind.TOPUP, data_bytes=1 * GB, fee_fen=1000),
        pack("ME500", PackKind.MONTH_END, data_bytes=500 * MB, fee_fen=500),
        pack("R5G", PackKind.RECURRING, data_bytes=5 * GB, fee_fen=2000),
        pack("Q30", PackKind.TERM, data_bytes=30 * GB, fee_fen=9000, validity_days=90),
        pack("ASSURE", PackKind.ASSURED, data_bytes=0, fee_fen=500, throttle_kbps=64),
        pack("RNEXT", PackKind.RECURRING, data_bytes=2 * GB, effective=Effective.NEXT_CYCLE),
    ]
    cat_plans = {p.code: p for p in plans}
    cat_packs = {p.code: p for p in packs}
    for code, item in extra.items():
        if isinstance(item, Plan):
            cat_plans[code] = item
        else:
            cat_packs[code] = item
    return Catalog(
        version="test-1",
        timezone="Asia/Shanghai",
        utc_offset_minutes=480,
        night_window=NightWindow(23 * 60, 7 * 60),
        plans=cat_plans,
        packs=cat_packs,
    )


@dataclass
class Harness:
    """One account driven through the core, with every event kept."""

    rater: Rater = field(default_factory=lambda: Rater(example_catalog()))
    account: Account | None = None
    events: list[Event] = field(default_factory=list)
    ids: itertools.count[int] = field(default_factory=itertools.count)

    def apply(self, item: UsageRecord | Command | Tick) -> Outcome:
        outcome = self.rater.apply(self.account, item)
        self.account = outcome.account
        self.events.extend(outcome.events)
        return outcome

    def subscribe(
        self,
        msisdn: str,
        plan: str,
        at: str,
        cycle_day: int = 1,
        packs: tuple[str, ...] = (),
        owner: str | None = None,
        province: str = "GD",
    ) -> Outcome:
        return self.apply(
            NewSubscriber(
                f"new-{msisdn}", msisdn, to_ms(at), plan, cycle_day, province, owner, packs
            )
        )

    def order(self, msisdn: str, product: str, at: str) -> Outcome:
        return self.apply(OrderProduct(f"ord-{next(self.ids)}", msisdn, to_ms(at), product))

    def data(
        self,
        msisdn: str,
        at: str,
        nbytes: int,
        app: str | None = None,
        province: str = "GD",
        record_id: str | None = None,
        roaming: Roaming = Roaming.HOME,
        rating_group: int | None = None,
    ) -> Outcome:
        rid = record_id or f"r{next(self.ids)}"
        return self.apply(
            UsageRecord(
                rid,
                msisdn,
                UsageType.DATA,
                to_ms(at),
                60,
                nbytes // 2,
                nbytes - nbytes // 2,
                app,
                rating_group,
                province,
                "LTE",
                roaming,
                None,
                0,
            )
        )

    def call(
        self,
        msisdn: str,
        at: str,
        seconds: int,
        video: bool = False,
        direction: Direction = Direction.MO,
    ) -> Outcome:
        return self.apply(
            UsageRecord(
                f"c{next(self.ids)}",
                msisdn,
                UsageType.VIDEO if video else UsageType.VOICE,
                to_ms(at),
                seconds,
                0,
                0,
                None,
                None,
                "GD",
                "LTE",
                Roaming.HOME,
                direction,
                0,
            )
        )

    def tick(self, at: str) -> Outcome:
        return self.apply(Tick(to_ms(at)))

    def line(self, msisdn: str) -> Line:
        assert self.account is not None
        return self.account.lines[msisdn]

    def charges(self) -> list[ChargeEvent]:
        return [e for e in self.events if isinstance(e, ChargeEvent)]

    def throttles(self) -> list[ThrottleEvent]:
        return [e for e in self.events if isinstance(e, ThrottleEvent)]

    def notes(self) -> list[NotificationEvent]:
        return [e for e in self.events if isinstance(e, NotificationEvent)]

    def bucket_used(self, msisdn: str, product: str, carried: bool = False) -> int:
        return sum(
            b.used
            for b in self.line(msisdn).buckets
            if b.product == product and b.carried == carried and b.unit == "data"
        )


def last_charge(outcome: Outcome) -> ChargeEvent:
    charges = [e for e in outcome.events if isinstance(e, ChargeEvent)]
    assert charges, outcome.events
    return charges[-1]


# --- Helpers for the per-rule tests (test_rule_*): commands and event filters. ---


def command(h: Harness, kind: str, msisdn: str, at: str, arg: object = None) -> Outcome:
    """Apply one product command by name: cancel / change_plan / arrears / active / close /
    add_member / remove_member."""
    from rater.core.inputs import (
        AddSharingMember,
        CancelProduct,
        ChangePlan,
        CloseAccount,
        RemoveSharingMember,
        SetStatus,
        SubscriberStatus,
    )

    cid, t = f"cmd-{next(h.ids)}", to_ms(at)
    item: Command
    if kind == "cancel":
        item = CancelProduct(cid, msisdn, t, str(arg))
    elif kind == "change_plan":
        item = ChangePlan(cid, msisdn, t, str(arg))
    elif kind == "arrears":
        item = SetStatus(cid, msisdn, t, SubscriberStatus.ARREARS)
    elif kind == "active":
        item = SetStatus(cid, msisdn, t, SubscriberStatus.ACTIVE)
    elif kind == "close":
        item = CloseAccount(cid, msisdn, t)
    elif kind == "add_member":
        item = AddSharingMember(cid, msisdn, t, str(arg))
    elif kind == "remove_member":
        item = RemoveSharingMember(cid, msisdn, t, str(arg))
    else:
        raise ValueError(kind)
    return h.apply(item)


def draws_of(c: ChargeEvent) -> list[tuple[str, int]]:
    """(product, amount) of every bucket a charge drew from, in draw order."""
    return [(d.product, d.amount) for d in c.draws]


def fees_of(events: list[Event], product: str | None = None) -> list[ChargeEvent]:
    """The fee charges (plan and pack fees) among `events`, optionally of one product."""
    from rater.core.events import ChargeKind

    return [
        e
        for e in events
        if isinstance(e, ChargeEvent)
        and e.kind in (ChargeKind.PLAN_FEE, ChargeKind.PACK_FEE)
        and (product is None or e.product == product)
    ]


def only_result(outcome: Outcome) -> NotificationEvent:
    """The single order-result notification of a command that changed nothing else."""
    assert len(outcome.events) == 1, outcome.events
    [note] = outcome.events
    assert isinstance(note, NotificationEvent)
    return note


def is_carried(h: Harness, msisdn: str, bucket_id: str) -> bool:
    """Whether a bucket (by id, from a Draw) of a line is carried over from last cycle."""
    b = h.line(msisdn).bucket(bucket_id)
    assert b is not None, bucket_id
    return b.carried
