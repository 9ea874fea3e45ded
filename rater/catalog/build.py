"""A whole catalog from its YAML data: the top level and every product validated in
one pass, so that a refused catalog lists every problem at once, each naming its
product; product codes unique across plans and packs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, TypeVar

from pydantic import BaseModel, ValidationError

from rater.catalog.errors import CatalogError, describe
from rater.catalog.messages import Issues
from rater.catalog.model import Catalog, NightWindow, Pack, Plan
from rater.catalog.products import Checks, build_pack, build_plan
from rater.catalog.specs import CatalogSpec, PackSpec, PlanSpec
from rater.catalog.timezones import fixed_utc_offset_minutes

__all__ = ["build_catalog"]


def _label(what: str, index: int, raw: object) -> str:
    """How messages name a product: by its code, or by its place when it has none."""
    if isinstance(raw, dict):
        code = raw.get("code")
        if isinstance(code, str) and code.strip():
            return f"{what} {code}"
    return f"{what} #{index}"


# Stand-ins for required fields that failed to parse: they let the cross-field checks of
# `build_plan`/`build_pack` run on the rest of a product (checks involving a failed field
# are skipped), so one pass reports every problem. A product with a failed field is never built.
_PLAN_STAND_INS: Final[Mapping[str, object]] = {
    "code": "UNKNOWN",
    "name": "unknown",
    "fee_fen": 0,
    "data": 0,
    "voice_min": 0,
    "video_min": 0,
    "prices": {"data_fen_per_mb": 0, "voice_fen_per_min": 0, "video_fen_per_min": 0},
}
_PACK_STAND_INS: Final[Mapping[str, object]] = {
    "code": "UNKNOWN",
    "name": "unknown",
    "fee_fen": 0,
}  # no stand-in for kind: without a kind there is nothing more to check

M = TypeVar("M", bound=BaseModel)


def _validate_product(
    model: type[M],
    raw: object,
    label: str,
    issues: Issues,
    stand_ins: Mapping[str, object],
) -> tuple[M | None, frozenset[str]]:
    """The parsed product and the set of its fields that failed (empty when all parsed).

    With failed fields, the product is parsed again with those fields dropped or replaced
    by stand-ins, so that the caller can still check the others.
    """
    try:
        return model.model_validate(raw), frozenset()
    except ValidationError as exc:
        issues.add_validation(exc, model, label)
        details = exc.errors(include_url=False)
    if not isinstance(raw, dict) or any(not d["loc"] for d in details):
        return None, frozenset()
    failed = frozenset(str(d["loc"][0]) for d in details)
    patched = {key: value for key, value in raw.items() if key not in failed}
    patched.update({key: stand_ins[key] for key in failed if key in stand_ins})
    try:
        return model.model_validate(patched), failed
    except ValidationError:
        return None, failed


def build_catalog(data: object, source: str) -> Catalog:
    """The frozen catalog of `data` (YAML read from `source`), or CatalogError listing every
    problem."""
    issues = Issues(source)
    if data is None:
        issues.add("the file is empty (expected a mapping with version, plans, packs, ...)")
        raise CatalogError(source, issues.items)
    if not isinstance(data, dict):
        issues.add(f"expected a mapping at the top level, got {describe(data)}")
        raise CatalogError(source, issues.items)

    spec: CatalogSpec | None = None
    try:
        spec = CatalogSpec.model_validate(data)
    except ValidationError as exc:
        issues.add_validation(exc, CatalogSpec, None)

    raw_plans = data.get("plans")
    raw_packs = data.get("packs")
    plans: dict[str, Plan] = {}
    packs: dict[str, Pack] = {}
    first_use: dict[str, str] = {}

    def claim(raw: object, label: str, ordinal: str) -> None:
        code = raw.get("code") if isinstance(raw, dict) else None
        if not isinstance(code, str) or not code.strip():
            return
        if code in first_use:
            issues.add(
                f"duplicate product code {code!r} (already the code of {first_use[code]}; "
                f"codes must be unique across plans and packs)",
                product=label,
                field="code",
            )
        else:
            first_use[code] = ordinal

    for index, raw in enumerate(raw_plans if isinstance(raw_plans, list) else [], start=1):
        label = _label("plan", index, raw)
        claim(raw, label, f"plan #{index}")
        plan_spec, failed = _validate_product(PlanSpec, raw, label, issues, _PLAN_STAND_INS)
        if plan_spec is not None:
            plan = build_plan(plan_spec, Checks(issues, label, failed))
            if plan is not None:
                plans.setdefault(plan.code, plan)

    for index, raw in enumerate(raw_packs if isinstance(raw_packs, list) else [], start=1):
        label = _label("pack", index, raw)
        claim(raw, label, f"pack #{index}")
        pack_spec, failed = _validate_product(PackSpec, raw, label, issues, _PACK_STAND_INS)
        if pack_spec is not None:
            pack = build_pack(pack_spec, Checks(issues, label, failed))
            if pack is not None:
                packs.setdefault(pack.code, pack)

    if issues.items or spec is None:
        raise CatalogError(source, issues.items)

    return Catalog(
        version=spec.version,
        timezone=spec.timezone,
        utc_offset_minutes=fixed_utc_offset_minutes(spec.timezone),
        night_window=NightWindow(
            start_minute=spec.night_window.start, end_minute=spec.night_window.end
        ),
        plans=plans,
        packs=packs,
        source=source,
    )
