"""The catalog's YAML format as pydantic models: which fields exist, their types and
defaults. Extra fields are refused. Rules between fields, and the ones that depend on
the pack kind, are checked when the products are built (`rater.catalog.products`)."""

from __future__ import annotations

from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator

from rater.catalog.decisions import DEFAULT_NIGHT_WINDOW, DEFAULT_PRIORITY, DEFAULT_TIMEZONE
from rater.catalog.errors import fail
from rater.catalog.fields import (
    AppId,
    Code,
    Count,
    EffectiveField,
    FeeModeField,
    Fen,
    Kbps,
    PackKindField,
    PositiveSize,
    RatingGroup,
    Size,
    Text,
    TimeOfDay,
    TimeZoneName,
    Version,
)
from rater.catalog.model import Effective, FeeMode

__all__ = ["CatalogSpec", "NightWindowSpec", "PackSpec", "PlanSpec", "PricesSpec"]

_FORBID: Final = ConfigDict(extra="forbid", frozen=True)


class NightWindowSpec(BaseModel):
    """`night_window: {start: "23:00", end: "07:00"}`: local, [start, end), may wrap midnight."""

    model_config = _FORBID

    start: TimeOfDay
    end: TimeOfDay

    @model_validator(mode="after")
    def _not_empty(self) -> NightWindowSpec:
        if self.start == self.end:
            raise fail("start and end are the same time: the night window would be empty")
        return self


class PricesSpec(BaseModel):
    """Standard overage prices of a plan, integer fen."""

    model_config = _FORBID

    data_fen_per_mb: Fen
    voice_fen_per_min: Fen
    video_fen_per_min: Fen


class PlanSpec(BaseModel):
    """A plan as written; `rater.catalog.products` checks it and builds the `Plan`."""

    model_config = _FORBID

    code: Code
    name: Text
    fee_fen: Fen
    fee_mode: FeeModeField = FeeMode.MONTHLY
    data: Size
    voice_min: Count
    video_min: Count
    prices: PricesSpec
    fair_use_cap: PositiveSize | None = None
    throttle_kbps: Kbps | None = None
    carries_over: StrictBool = True
    prorate_first_cycle: StrictBool | None = None
    effective: EffectiveField = Effective.IMMEDIATE


class PackSpec(BaseModel):
    """A pack as written; defaults by kind come from `PACK_KIND_RULES` when it is built."""

    model_config = _FORBID

    code: Code
    name: Text
    kind: PackKindField
    fee_fen: Fen
    fee_mode: FeeModeField | None = None  # default by kind
    data: Size | None = None  # required except for assured packs
    priority: Count = DEFAULT_PRIORITY
    effective: EffectiveField = Effective.IMMEDIATE
    carries_over: StrictBool | None = None  # default by kind
    validity_days: StrictInt | None = None  # term only
    apps: list[AppId] | None = None  # directional only
    rating_groups: list[RatingGroup] | None = None  # directional only
    max_orders_per_cycle: Annotated[StrictInt, Field(gt=0)] | None = None  # month_end only
    throttle_kbps: Kbps | None = None  # assured only


class CatalogSpec(BaseModel):
    """The top level. Products are validated one by one (`rater.catalog.build`), so
    that every message can name its product."""

    model_config = _FORBID

    version: Version
    timezone: TimeZoneName = DEFAULT_TIMEZONE
    night_window: NightWindowSpec = NightWindowSpec.model_validate(
        {"start": DEFAULT_NIGHT_WINDOW[0], "end": DEFAULT_NIGHT_WINDOW[1]}
    )
    plans: Annotated[list[Any], Field(min_length=1)]
    packs: list[Any] | None = None
