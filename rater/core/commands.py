"""Section 4 order rules and the other commands that change a subscriber's products.

An order that breaks a rule is rejected with a reason and changes nothing; every
command produces exactly one result notification (accepted or rejected).
"""

from __future__ import annotations

from rater.catalog.decisions import (
    CANCEL_AT_ONCE_KINDS,
    DEFAULT_MONTH_END_MAX_ORDERS,
    MAX_CYCLE_DAY,
    MIN_CYCLE_DAY,
    SINGLE_INSTANCE_KINDS,
)
from rater.catalog.model import Effective, PackKind
from rater.core import emit, fees, products, throttling
from rater.core.cycles import cycle_at
from rater.core.events import Event, NotificationKind, Reject
from rater.core.inputs import (
    AddSharingMember,
    CancelProduct,
    ChangePlan,
    CloseAccount,
    Command,
    NewSubscriber,
    OrderProduct,
    RemoveSharingMember,
    SetStatus,
    SubscriberStatus,
)
from rater.core.runtime import Runtime
from rater.core.state import Account, Line


class Rejected(Exception):
    """A command broke a rule: `reason` goes on the output, and nothing changed."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _accepted(
    rt: Runtime, out: list[Event], line: Line, cmd: Command, what: str, product: str | None = None
) -> None:
    emit.notify(
        rt,
        out,
        line,
        f"accepted:{cmd.command_id}",
        cmd.time,
        NotificationKind.ORDER_ACCEPTED,
        what,
        product,
        command_id=cmd.command_id,
    )


def rejected(rt: Runtime, out: list[Event], line: Line, cmd: Command, err: Rejected) -> None:
    product = getattr(cmd, "product", None) or getattr(cmd, "plan", None)
    emit.notify(
        rt,
        out,
        line,
        f"rejected:{err.reason}:{cmd.command_id}",
        cmd.time,
        NotificationKind.ORDER_REJECTED,
        f"{err.reason}: {err.detail}",
        product,
        command_id=cmd.command_id,
    )


def new_subscriber(
    rt: Runtime, out: list[Event], account: Account | None, cmd: NewSubscriber
) -> Account:
    """A new line; with an owner it joins the owner's account as a sharing member."""
    cat = rt.catalog
    key = cmd.owner or cmd.msisdn
    if account is None:
        account = Account(key=key, clock=cmd.time)
    plan = cat.plans.get(cmd.plan)
    line = Line(
        msisdn=cmd.msisdn,
        account=key,
        plan=cmd.plan,
        cycle_day=cmd.cycle_day,
        home_province=cmd.home_province,
        activated_at=cmd.time,
    )
    cycle = cycle_at(cmd.time, min(max(cmd.cycle_day, MIN_CYCLE_DAY), MAX_CYCLE_DAY), rt.offset_ms)
    line.cycle_start, line.cycle_end, line.cycle_id, line.cycle_days = (
        cycle.start,
        cycle.end,
        cycle.id,
        cycle.days,
    )
    try:
        if cmd.msisdn in account.lines:
            raise Rejected(Reject.ALREADY_EXISTS, f"{cmd.msisdn} is already a subscriber")
        if plan is None:
            raise Rejected(Reject.UNKNOWN_PLAN, f"no plan {cmd.plan!r} in the catalog")
        if not MIN_CYCLE_DAY <= cmd.cycle_day <= MAX_CYCLE_DAY:
            raise Rejected(
                Reject.BAD_CYCLE_DAY,
                f"cycle day {cmd.cycle_day} is not in {MIN_CYCLE_DAY}..{MAX_CYCLE_DAY}",
            )
        owner = None
        if cmd.owner is not None and cmd.owner != cmd.msisdn:
            owner = account.lines.get(cmd.owner)
            if owner is None:
                raise Rejected(Reject.SHARING_NOT_IN_ACCOUNT, f"owner {cmd.owner} not found")
            if owner.home_province != cmd.home_province:
                raise Rejected(
                    Reject.SHARING_PROVINCE, "a sharing member must be of the owner's province"
                )
        for code in cmd.packs:
            if code not in cat.packs:
                raise Rejected(Reject.UNKNOWN_PRODUCT, f"no pack {code!r} in the catalog")
    except Rejected as err:
        rejected(rt, out, line, cmd, err)
        return account
    assert plan is not None
    account.lines[line.msisdn] = line
    if owner is not None:
        line.sharing_owner = owner.msisdn
        owner.members.append(line.msisdn)
    products.attach_plan(
        rt, out, line, plan, cmd.time, f"cmd-fee:{plan.code}:{cmd.command_id}", first_cycle=True
    )
    _accepted(rt, out, line, cmd, "subscriber activated", plan.code)
    for i, code in enumerate(cmd.packs):
        sub = OrderProduct(f"{cmd.command_id}.{i}", cmd.msisdn, cmd.time, code)
        apply_command(rt, out, account, sub)
    return account


def apply_command(rt: Runtime, out: list[Event], account: Account, cmd: Command) -> None:
    """Any command but NewSubscriber, on a line of `account`."""
    line = account.lines[cmd.msisdn]
    try:
        if line.status == SubscriberStatus.CLOSED:
            raise Rejected(Reject.ACCOUNT_CLOSED, "the account is closed")
        match cmd:
            case OrderProduct():
                what = _order(rt, out, line, cmd)
            case CancelProduct():
                what = _cancel(line, cmd)
            case ChangePlan():
                what = _change_plan(rt, out, line, cmd)
            case AddSharingMember():
                what = _add_member(account, line, cmd.member)
            case RemoveSharingMember():
                what = _remove_member(account, line, cmd.member)
            case CloseAccount():
                what = _close(account, line)
            case SetStatus():
                if cmd.status == SubscriberStatus.CLOSED:
                    what = _close(account, line)
                else:
                    line.status = cmd.status
                    what = f"status {cmd.status}"
            case _:
                raise Rejected("UNSUPPORTED", type(cmd).__name__)
    except Rejected as err:
        rejected(rt, out, line, cmd, err)
        return
    _accepted(rt, out, line, cmd, what, getattr(cmd, "product", None) or getattr(cmd, "plan", None))


def _order(rt: Runtime, out: list[Event], line: Line, cmd: OrderProduct) -> str:
    pack = rt.catalog.packs.get(cmd.product)
    if pack is None:
        raise Rejected(Reject.UNKNOWN_PRODUCT, f"no pack {cmd.product!r} in the catalog")
    if line.status == SubscriberStatus.ARREARS:
        raise Rejected(Reject.ACCOUNT_IN_ARREARS, "the account is in arrears")
    held = [b for b in line.buckets if b.product == cmd.product or b.kind == pack.kind]
    if pack.kind == PackKind.MONTH_END:
        limit = pack.max_orders_per_cycle or DEFAULT_MONTH_END_MAX_ORDERS
        if line.month_end_orders >= limit:
            raise Rejected(Reject.MONTH_END_LIMIT, f"at most {limit} month-end packs per cycle")
    elif pack.kind == PackKind.TERM:
        live = [b for b in held if b.kind == PackKind.TERM and not b.carried]
        if any(b.remaining > 0 and b.valid_to > cmd.time for b in live):
            raise Rejected(Reject.TERM_PACK_ACTIVE, "only one term pack at a time")
        for b in live:  # used up: that pack has ended
            line.buckets.remove(b)
            line.subscriptions = [s for s in line.subscriptions if s.bucket_id != b.id]
    elif pack.kind == PackKind.NIGHT:
        if any(
            b.kind == PackKind.NIGHT and not b.carried for b in held
        ) or PackKind.NIGHT in _pending_kinds(rt, line):
            raise Rejected(Reject.ALREADY_HELD, "a night pack cannot be ordered twice")
    elif pack.kind in SINGLE_INSTANCE_KINDS and (
        any(b.product == pack.code and not b.carried for b in held)
        or pack.code in line.pending_products
    ):
        raise Rejected(Reject.ALREADY_HELD, f"{pack.code} is already held")
    if pack.kind == PackKind.MONTH_END:
        line.month_end_orders += 1
    if pack.effective == Effective.NEXT_CYCLE:
        line.pending_products.append(pack.code)
        return f"effective from the next cycle ({_next_cycle_id(rt, line)})"
    products.attach_pack(rt, out, line, pack, cmd.time, f"cmd-fee:{pack.code}:{cmd.command_id}")
    if throttling.lifted_by_order(line, pack):
        throttling.restore(
            rt,
            out,
            line,
            f"cmd-restore:{cmd.command_id}",
            cmd.time,
            f"data pack {pack.code} ordered",
        )
    return "effective now"


def _pending_kinds(rt: Runtime, line: Line) -> set[str]:
    return {rt.catalog.packs[c].kind for c in line.pending_products}


def _next_cycle_id(rt: Runtime, line: Line) -> str:
    return cycle_at(line.cycle_end, line.cycle_day, rt.offset_ms).id


def _cancel(line: Line, cmd: CancelProduct) -> str:
    if cmd.product in line.pending_products:
        line.pending_products.remove(cmd.product)
        return "pending order withdrawn"
    subs = [s for s in line.subscriptions if s.product == cmd.product and not s.cancelled]
    if not subs:
        raise Rejected(Reject.NOT_HELD, f"{cmd.product} is not held")
    for s in subs:
        b = line.bucket(s.bucket_id) if s.bucket_id else None
        if b is not None and b.kind in CANCEL_AT_ONCE_KINDS:
            line.buckets.remove(b)
            line.subscriptions.remove(s)
            fees.stop_accrual(line, cmd.product)
        else:
            s.cancelled = True
    return "cancelled"


def _change_plan(rt: Runtime, out: list[Event], line: Line, cmd: ChangePlan) -> str:
    plan = rt.catalog.plans.get(cmd.plan)
    if plan is None:
        raise Rejected(Reject.UNKNOWN_PLAN, f"no plan {cmd.plan!r} in the catalog")
    if cmd.plan == line.plan and line.pending_plan is None:
        raise Rejected(Reject.SAME_PLAN, f"already on {cmd.plan}")
    if line.status == SubscriberStatus.ARREARS:
        raise Rejected(Reject.ACCOUNT_IN_ARREARS, "the account is in arrears")
    if plan.effective == Effective.NEXT_CYCLE:
        line.pending_plan = plan.code
        return f"effective from the next cycle ({_next_cycle_id(rt, line)})"
    products.detach_plan(line)
    products.attach_plan(
        rt, out, line, plan, cmd.time, f"cmd-fee:{plan.code}:{cmd.command_id}", first_cycle=True
    )
    return "effective now"


def _add_member(account: Account, owner: Line, member_msisdn: str) -> str:
    member = account.lines.get(member_msisdn)
    if member is None:
        raise Rejected(
            Reject.SHARING_NOT_IN_ACCOUNT,
            f"{member_msisdn} must be provisioned in {owner.msisdn}'s account",
        )
    if member is owner or owner.sharing_owner is not None or member.members:
        raise Rejected(Reject.SHARING_INVALID, "owners and members cannot be nested")
    if member.sharing_owner is not None:
        raise Rejected(Reject.ALREADY_HELD, f"{member_msisdn} already shares a pool")
    if member.home_province != owner.home_province:
        raise Rejected(Reject.SHARING_PROVINCE, "a sharing member must be of the owner's province")
    member.sharing_owner = owner.msisdn
    owner.members.append(member.msisdn)
    return f"{member_msisdn} shares {owner.msisdn}'s data"


def _remove_member(account: Account, owner: Line, member_msisdn: str) -> str:
    member = account.lines.get(member_msisdn)
    if member is None or member.sharing_owner != owner.msisdn:
        raise Rejected(Reject.NOT_HELD, f"{member_msisdn} is not a member of {owner.msisdn}")
    member.sharing_owner = None
    owner.members.remove(member_msisdn)
    return f"{member_msisdn} no longer shares"


def _close(account: Account, line: Line) -> str:
    """A closed account carries nothing and is charged nothing more."""
    line.status = SubscriberStatus.CLOSED
    line.buckets = []
    line.subscriptions = []
    line.pending_products = []
    line.pending_plan = None
    for a in line.accruals:
        a.done = True
    for m in line.members:
        if m in account.lines:
            account.lines[m].sharing_owner = None
    line.members = []
    return "account closed"
