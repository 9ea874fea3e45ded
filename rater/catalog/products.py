"""One product's checks across its fields, and the frozen `Plan` or `Pack` built from
its spec. Rules that depend on the pack kind come from `PACK_KIND_RULES`; each problem
is added to the file's issues and the product is then not built."""

from __future__ import annotations

from rater.catalog.decisions import (
    DEFAULT_MONTH_END_MAX_ORDERS,
    DEFAULT_THROTTLE_KBPS,
    PACK_KIND_RULES,
    PLAN_FEE_MODES,
    TERM_VALIDITY_DAYS,
)
from rater.catalog.messages import Issues
from rater.catalog.model import Effective, FeeMode, Pack, PackKind, Plan
from rater.catalog.specs import PackSpec, PlanSpec

__all__ = ["Checks", "build_pack", "build_plan"]


class Checks:
    """Cross-field checks of one product. A check that involves a field which already
    failed to parse is skipped (its value is a stand-in)."""

    def __init__(self, issues: Issues, label: str, failed: frozenset[str]) -> None:
        self.issues = issues
        self.label = label
        self.failed = failed
        self.found = bool(failed)

    def can_check(self, *fields: str) -> bool:
        return not self.failed.intersection(fields)

    def add(self, field: str, reason: str) -> None:
        self.issues.add(reason, self.label, field)
        self.found = True


def build_plan(spec: PlanSpec, checks: Checks) -> Plan | None:
    """The plan, or None when a check failed (the problems are in `checks`)."""
    if checks.can_check("fee_mode") and spec.fee_mode not in PLAN_FEE_MODES:
        checks.add(
            "fee_mode",
            f"fee mode {spec.fee_mode.value!r} is not allowed for a plan "
            f"(expected one of {_choices(PLAN_FEE_MODES)})",
        )
    if (
        checks.can_check("fair_use_cap", "data")
        and spec.fair_use_cap is not None
        and spec.fair_use_cap < spec.data
    ):
        checks.add(
            "fair_use_cap",
            f"fair-use cap ({spec.fair_use_cap} bytes) is below the plan's included data "
            f"({spec.data} bytes)",
        )
    if (
        checks.can_check("throttle_kbps", "fair_use_cap")
        and spec.throttle_kbps is not None
        and spec.fair_use_cap is None
    ):
        checks.add("throttle_kbps", "only meaningful with a fair_use_cap")
    if (
        checks.can_check("prorate_first_cycle", "fee_mode")
        and spec.prorate_first_cycle is not None
        and spec.fee_mode is not FeeMode.MONTHLY
    ):
        checks.add(
            "prorate_first_cycle",
            "only for the monthly fee mode (a daily_by_usage fee accrues by day anyway)",
        )
    if checks.found:
        return None
    return Plan(
        code=spec.code,
        name=spec.name,
        fee_fen=spec.fee_fen,
        fee_mode=spec.fee_mode,
        data_bytes=spec.data,
        voice_min=spec.voice_min,
        video_min=spec.video_min,
        data_price_fen_per_mb=spec.prices.data_fen_per_mb,
        voice_price_fen_per_min=spec.prices.voice_fen_per_min,
        video_price_fen_per_min=spec.prices.video_fen_per_min,
        fair_use_cap_bytes=spec.fair_use_cap,
        throttle_kbps=spec.throttle_kbps or DEFAULT_THROTTLE_KBPS,
        carries_over=spec.carries_over,
        prorate_first_cycle=True if spec.prorate_first_cycle is None else spec.prorate_first_cycle,
        effective=spec.effective,
    )


def _choices(values: frozenset[FeeMode] | frozenset[Effective]) -> str:
    return ", ".join(sorted(v.value for v in values))


def build_pack(spec: PackSpec, checks: Checks) -> Pack | None:
    """The pack, its defaults by kind, or None when a check failed (the problems are in
    `checks`)."""
    kind = spec.kind
    rule = PACK_KIND_RULES[kind]

    def only_for(field: str, value: object, allowed_kind: PackKind) -> None:
        if checks.can_check(field) and value is not None and kind is not allowed_kind:
            checks.add(field, f"only allowed for {allowed_kind.value} packs, not {kind.value}")

    fee_mode = spec.fee_mode or rule.default_fee_mode
    if checks.can_check("fee_mode") and fee_mode not in rule.fee_modes:
        checks.add(
            "fee_mode",
            f"fee mode {fee_mode.value!r} is not allowed for a {kind.value} pack "
            f"(expected {_choices(rule.fee_modes)})",
        )

    data = spec.data
    if checks.can_check("data") and rule.needs_data:
        if data is None:
            checks.add("data", f"required for a {kind.value} pack")
        elif data <= 0:
            checks.add("data", f"must be > 0 for a {kind.value} pack, got {data}")

    carries_over = rule.default_carries_over if spec.carries_over is None else spec.carries_over
    if checks.can_check("carries_over") and carries_over and not rule.may_carry_over:
        checks.add("carries_over", f"a {kind.value} pack never carries over (spec section 6)")

    if checks.can_check("effective") and spec.effective not in rule.effective:
        checks.add(
            "effective",
            f"must be {_choices(rule.effective)} for a {kind.value} pack, "
            f"got {spec.effective.value}",
        )

    only_for("validity_days", spec.validity_days, PackKind.TERM)
    if kind is PackKind.TERM and checks.can_check("validity_days"):
        if spec.validity_days is None:
            checks.add(
                "validity_days", f"required for a term pack (one of {sorted(TERM_VALIDITY_DAYS)})"
            )
        elif spec.validity_days not in TERM_VALIDITY_DAYS:
            checks.add(
                "validity_days",
                f"must be one of {sorted(TERM_VALIDITY_DAYS)} days, got {spec.validity_days}",
            )

    only_for("apps", spec.apps, PackKind.DIRECTIONAL)
    only_for("rating_groups", spec.rating_groups, PackKind.DIRECTIONAL)
    apps = spec.apps or []
    groups = spec.rating_groups or []
    if kind is PackKind.DIRECTIONAL:
        if checks.can_check("apps", "rating_groups") and not apps and not groups:
            checks.add(
                "apps",
                "a directional pack needs at least one app id (apps) or rating group "
                "(rating_groups)",
            )
        for field, shown in (("apps", apps), ("rating_groups", [str(g) for g in groups])):
            dupes = sorted({v for v in shown if shown.count(v) > 1})
            if dupes:
                checks.add(field, f"listed more than once: {', '.join(dupes)}")

    only_for("max_orders_per_cycle", spec.max_orders_per_cycle, PackKind.MONTH_END)
    only_for("throttle_kbps", spec.throttle_kbps, PackKind.ASSURED)

    if checks.found:
        return None
    return Pack(
        code=spec.code,
        name=spec.name,
        kind=kind,
        fee_fen=spec.fee_fen,
        fee_mode=fee_mode,
        data_bytes=data or 0,
        validity_days=spec.validity_days,
        apps=frozenset(apps),
        rating_groups=frozenset(groups),
        max_orders_per_cycle=(
            (spec.max_orders_per_cycle or DEFAULT_MONTH_END_MAX_ORDERS)
            if kind is PackKind.MONTH_END
            else None
        ),
        priority=spec.priority,
        effective=spec.effective,
        carries_over=carries_over,
        throttle_kbps=spec.throttle_kbps or DEFAULT_THROTTLE_KBPS,
    )
