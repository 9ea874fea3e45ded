"""Load a product catalog from YAML into the frozen model of `rater.catalog.model`.

The format is documented field by field in docs/catalog.md. In short:

    version: "2026-11-example-1"
    timezone: Asia/Shanghai
    night_window: {start: "23:00", end: "07:00"}
    plans: [ {code, name, fee_fen, fee_mode, data, voice_min, video_min, prices, ...} ]
    packs: [ {code, name, kind, fee_fen, fee_mode, data, priority, effective, ...} ]

A catalog is accepted whole or refused whole: `load_catalog` either returns a complete
`Catalog` or raises one `CatalogError` that lists every problem found, each naming the
file, the product (or top-level field), the field and the reason.

Parsing is done by pydantic models (extra fields forbidden, strict scalar types, so that
YAML's surprises -- `23:00` read as the number 1380, `NO` read as false, an unquoted date
read as a date -- are refused instead of silently converted). Rules that depend on the
pack kind live in one table, `PACK_KIND_RULES`, so product decisions stay in one place.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Final, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from rater.catalog.model import (
    GB,
    KB,
    MB,
    Catalog,
    Effective,
    FeeMode,
    NightWindow,
    Pack,
    PackKind,
    Plan,
)

__all__ = [
    "DEFAULT_NIGHT_WINDOW",
    "DEFAULT_TIMEZONE",
    "PACK_KIND_RULES",
    "TERM_VALIDITY_DAYS",
    "CatalogError",
    "CatalogIssue",
    "KindRule",
    "fixed_utc_offset_minutes",
    "load_catalog",
    "parse_catalog",
    "parse_size",
]

# --------------------------------------------------------------------------------------
# Product decisions that the loader applies (spec sections 2, 4 and 6). One place.
# --------------------------------------------------------------------------------------

DEFAULT_TIMEZONE: Final = "Asia/Shanghai"  # spec 2: "[decision: configurable per catalog]"
DEFAULT_NIGHT_WINDOW: Final = ("23:00", "07:00")  # spec 4: night packs, 23:00-07:00 local
TERM_VALIDITY_DAYS: Final = frozenset({90, 180})  # spec 4: "90 or 180 days from activation"
DEFAULT_MONTH_END_MAX_ORDERS: Final = 5  # spec 4: "at most 5 orders per cycle"
DEFAULT_PRIORITY: Final = 100
DEFAULT_THROTTLE_KBPS: Final = 128
MAX_RATING_GROUP: Final = 2**32 - 1  # 3GPP rating groups are unsigned 32-bit

# How many years around "now" the time zone is checked for a constant UTC offset.
TZ_CHECK_YEARS_BEFORE: Final = 2
TZ_CHECK_YEARS_AFTER: Final = 5
TZ_CHECK_STEP: Final = timedelta(hours=12)
# Zone names that load but do not name a real place: refused.
_NOT_A_PLACE: Final = frozenset({"localtime", "Factory", "posixrules"})

PER_CYCLE_FEE_MODES: Final = frozenset({FeeMode.MONTHLY, FeeMode.DAILY_BY_USAGE})
PLAN_FEE_MODES: Final = PER_CYCLE_FEE_MODES


@dataclass(frozen=True, slots=True)
class KindRule:
    """What the catalog allows and defaults for one pack kind."""

    default_fee_mode: FeeMode
    fee_modes: frozenset[FeeMode]
    default_carries_over: bool
    may_carry_over: bool
    needs_data: bool  # data must be > 0 (False: 0 is allowed, e.g. an assured pack)
    effective: frozenset[Effective]  # when an order of this kind may take effect


_ANY_TIME: Final = frozenset(Effective)
_ONCE: Final = frozenset({FeeMode.ONCE})

PACK_KIND_RULES: Final[Mapping[PackKind, KindRule]] = {
    # spec 4: fee per cycle, renews every cycle; spec 6: carries over
    PackKind.RECURRING: KindRule(
        default_fee_mode=FeeMode.MONTHLY,
        fee_modes=PER_CYCLE_FEE_MODES,
        default_carries_over=True,
        may_carry_over=True,
        needs_data=True,
        effective=_ANY_TIME,
    ),
    # spec 4: full fee at order, removed at the next cycle; spec 6: never carries
    PackKind.TOPUP: KindRule(
        default_fee_mode=FeeMode.ONCE,
        fee_modes=_ONCE,
        default_carries_over=False,
        may_carry_over=False,
        needs_data=True,
        effective=_ANY_TIME,
    ),
    # spec 4: until the end of the current cycle, at most 5 orders a cycle; never carries
    PackKind.MONTH_END: KindRule(
        default_fee_mode=FeeMode.ONCE,
        fee_modes=_ONCE,
        default_carries_over=False,
        may_carry_over=False,
        needs_data=True,
        effective=_ANY_TIME,
    ),
    # spec 4: 90 or 180 days from activation, no renewal; never carries
    PackKind.TERM: KindRule(
        default_fee_mode=FeeMode.ONCE,
        fee_modes=_ONCE,
        default_carries_over=False,
        may_carry_over=False,
        needs_data=True,
        effective=_ANY_TIME,
    ),
    # spec 4: "effective at once; fee by day by usage"; spec 6: never carries
    PackKind.DIRECTIONAL: KindRule(
        default_fee_mode=FeeMode.DAILY_BY_USAGE,
        fee_modes=frozenset({FeeMode.DAILY_BY_USAGE}),
        default_carries_over=False,
        may_carry_over=False,
        needs_data=True,
        effective=frozenset({Effective.IMMEDIATE}),
    ),
    # spec 4/6: renews per cycle; the one pack the handbook says carries over
    PackKind.NIGHT: KindRule(
        default_fee_mode=FeeMode.MONTHLY,
        fee_modes=PER_CYCLE_FEE_MODES,
        default_carries_over=True,
        may_carry_over=True,
        needs_data=True,
        effective=_ANY_TIME,
    ),
    # spec 4: renews per cycle, never carries; may have no data of its own (throttle only)
    PackKind.ASSURED: KindRule(
        default_fee_mode=FeeMode.MONTHLY,
        fee_modes=PER_CYCLE_FEE_MODES,
        default_carries_over=False,
        may_carry_over=False,
        needs_data=False,
        effective=_ANY_TIME,
    ),
}

# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CatalogIssue:
    """One problem in a catalog file.

    `product` is e.g. "plan P58" or "pack #3" (when the pack has no usable code);
    `field` is a dotted path inside the product or the top level, e.g. "prices.voice_fen_per_min",
    "apps[1]", "night_window.start".
    """

    source: str
    reason: str
    product: str | None = None
    field: str | None = None
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        parts = [self.source]
        if self.line is not None:
            parts.append(
                f"line {self.line}" + (f", column {self.column}" if self.column is not None else "")
            )
        if self.product is not None:
            parts.append(self.product)
        if self.field is not None:
            parts.append(f"field {self.field}")
        parts.append(self.reason)
        return ": ".join(parts)


class CatalogError(ValueError):
    """A catalog was refused. `errors` lists every problem; the message joins them, one a line."""

    def __init__(self, source: str, errors: Sequence[CatalogIssue]) -> None:
        self.source = source
        self.errors: list[CatalogIssue] = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors))

    @property
    def messages(self) -> list[str]:
        return [str(e) for e in self.errors]


# --------------------------------------------------------------------------------------
# Scalar parsers (used as pydantic validators)
# --------------------------------------------------------------------------------------

_SIZE_UNITS: Final[Mapping[str, int]] = {
    "B": 1,
    "KB": KB,
    "MB": MB,
    "GB": GB,
    "KiB": KB,
    "MiB": MB,
    "GiB": GB,
}
_SIZE_RE: Final = re.compile(r"^\s*([+-]?\d+(?:\.\d+)?)\s*([A-Za-z]+)\s*$")
_HHMM_RE: Final = re.compile(r"^(\d{2}):(\d{2})$")
_CODE_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")


def _describe(value: object) -> str:
    """How a YAML value is shown in a message."""
    if value is None:
        return "null (an empty value)"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean; YAML reads yes/no/on/off as booleans)"
    if isinstance(value, int | float):
        return f"{value} (a number)"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, datetime | date):
        return f"{value.isoformat()} (a date; quote it to make it a string)"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"{value!r} ({type(value).__name__})"


def _fail(reason: str) -> PydanticCustomError:
    return PydanticCustomError("catalog", "{reason}", {"reason": reason})


def parse_size(value: object) -> int:
    """A data volume in bytes: an integer, or a string with a base-1024 unit.

    "3GB" == 3 * 1024**3, "500MB", "1.5MB" (must come to a whole number of bytes),
    "2 GiB" (KiB/MiB/GiB are accepted as synonyms). Raises ValueError otherwise.
    Negative values are returned as such; range checks are the caller's.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a size, got {_describe(value)}")
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        raise ValueError(
            f"expected a size (an integer number of bytes, or a string such as '3GB'), "
            f"got {_describe(value)}"
        )
    match = _SIZE_RE.match(value)
    if match is None:
        raise ValueError(
            f"not a size: {value!r} (write bytes as an integer, or a number with a unit "
            f"B, KB, MB or GB, base 1024, e.g. '3GB')"
        )
    number, unit = match.groups()
    factor = _SIZE_UNITS.get(unit)
    if factor is None:
        raise ValueError(
            f"unknown size unit {unit!r} in {value!r} (expected one of B, KB, MB, GB; base 1024)"
        )
    exact = Decimal(number) * factor
    if exact != exact.to_integral_value():
        raise ValueError(f"{value!r} is not a whole number of bytes")
    return int(exact)


def _size(value: object) -> int:
    try:
        return parse_size(value)
    except ValueError as exc:
        raise _fail(str(exc)) from None


def _time_of_day(value: object) -> int:
    """A quoted "HH:MM" (24-hour clock, local) -> minutes after midnight."""
    if isinstance(value, int) and not isinstance(value, bool):
        hint = ""
        if value >= 0:
            hours, minutes = divmod(value, 60)
            hint = f" (YAML reads an unquoted {hours}:{minutes:02d} as a base-60 number)"
        raise _fail(f'expected a quoted "HH:MM" string, got the number {value}{hint}')
    if not isinstance(value, str):
        raise _fail(f'expected a quoted "HH:MM" string, got {_describe(value)}')
    match = _HHMM_RE.match(value)
    if match is None:
        raise _fail(f'not a time of day: {value!r} (expected "HH:MM", 24-hour clock, e.g. "23:00")')
    hours, minutes = int(match.group(1)), int(match.group(2))
    if hours > 23:
        raise _fail(f"hour out of range in {value!r} (expected 00-23)")
    if minutes > 59:
        raise _fail(f"minute out of range in {value!r} (expected 00-59)")
    return hours * 60 + minutes


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise _fail(f"expected a string, got {_describe(value)}")
    if not value.strip():
        raise _fail("must not be empty")
    return value


def _code(value: object) -> str:
    text = _text(value)
    if _CODE_RE.match(text) is None:
        raise _fail(
            f"not a valid product code: {text!r} (letters, digits, '_' and '-', "
            f"starting with a letter or digit, at most 32 characters)"
        )
    return text


def _app_id(value: object) -> str:
    text = _text(value)
    if text != text.strip() or any(ch.isspace() for ch in text):
        raise _fail(f"app id must not contain spaces: {text!r}")
    return text


E = TypeVar("E", bound=StrEnum)


def _enum_parser(enum: type[E], what: str) -> BeforeValidator:
    choices = ", ".join(member.value for member in enum)

    def parse(value: object) -> E:
        if isinstance(value, str):
            for member in enum:
                if member.value == value:
                    return member
            raise _fail(f"unknown {what} {value!r} (expected one of {choices})")
        raise _fail(f"expected one of {choices}, got {_describe(value)}")

    return BeforeValidator(parse)


def _timezone(name: str) -> str:
    try:
        fixed_utc_offset_minutes(name)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    return name


def fixed_utc_offset_minutes(name: str, around: datetime | None = None) -> int:
    """The UTC offset, in minutes, of an IANA time zone that has one offset all year.

    The offset is sampled every 12 hours from TZ_CHECK_YEARS_BEFORE years before `around`
    (default: now) to TZ_CHECK_YEARS_AFTER years after it: a zone with daylight saving, or
    one that changes its offset in that span, raises ValueError; so does an unknown name.
    """
    now = around or datetime.now(UTC)
    return _fixed_offset(name, now.year - TZ_CHECK_YEARS_BEFORE, now.year + TZ_CHECK_YEARS_AFTER)


@functools.lru_cache(maxsize=64)
def _fixed_offset(name: str, first_year: int, last_year: int) -> int:
    if name in _NOT_A_PLACE:
        raise ValueError(f"{name!r} is not an IANA time zone name (expected e.g. Asia/Shanghai)")
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"unknown time zone {name!r} (expected an IANA name such as Asia/Shanghai)"
        ) from None
    moment = datetime(first_year, 1, 1, tzinfo=UTC)
    end = datetime(last_year, 12, 31, 12, tzinfo=UTC)
    first = moment.astimezone(zone).utcoffset()
    assert first is not None  # a ZoneInfo always knows its offset
    while moment <= end:
        offset = moment.astimezone(zone).utcoffset()
        if offset != first:
            raise ValueError(
                f"time zone {name} has no fixed UTC offset: it changes from "
                f"{_show_offset(first)} to {_show_offset(offset)} around "
                f"{moment.date().isoformat()} (daylight saving?); the rater needs a zone "
                f"with one offset all year, such as Asia/Shanghai"
            )
        moment += TZ_CHECK_STEP
    seconds = int(first.total_seconds())
    if seconds % 60:
        raise ValueError(f"time zone {name} has a UTC offset that is not whole minutes")
    return seconds // 60


def _show_offset(offset: timedelta | None) -> str:
    if offset is None:
        return "?"
    total = int(offset.total_seconds()) // 60
    sign = "-" if total < 0 else "+"
    hours, minutes = divmod(abs(total), 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


def _version(value: object) -> str:
    if isinstance(value, int | float | date) and not isinstance(value, bool):
        shown = value.isoformat() if isinstance(value, date) else value
        raise _fail(f'expected a string, got {_describe(value)}; quote it: "{shown}"')
    return _text(value)


# --------------------------------------------------------------------------------------
# Field types
# --------------------------------------------------------------------------------------

Code = Annotated[str, BeforeValidator(_code)]
Text = Annotated[str, BeforeValidator(_text)]
Fen = Annotated[StrictInt, Field(ge=0)]  # money: integer fen, never negative
Count = Annotated[StrictInt, Field(ge=0)]  # minutes, priorities
Kbps = Annotated[StrictInt, Field(gt=0)]
Size = Annotated[int, BeforeValidator(_size), Field(ge=0)]
PositiveSize = Annotated[int, BeforeValidator(_size), Field(gt=0)]
TimeOfDay = Annotated[int, BeforeValidator(_time_of_day)]
AppId = Annotated[str, BeforeValidator(_app_id)]
RatingGroup = Annotated[StrictInt, Field(ge=0, le=MAX_RATING_GROUP)]
FeeModeField = Annotated[FeeMode, _enum_parser(FeeMode, "fee mode")]
PackKindField = Annotated[PackKind, _enum_parser(PackKind, "pack kind")]
EffectiveField = Annotated[Effective, _enum_parser(Effective, "effective")]
Version = Annotated[str, BeforeValidator(_version)]
TimeZoneName = Annotated[str, BeforeValidator(_text), AfterValidator(_timezone)]

_FORBID: Final = ConfigDict(extra="forbid", frozen=True)

# --------------------------------------------------------------------------------------
# The YAML format, as pydantic models
# --------------------------------------------------------------------------------------


class NightWindowSpec(BaseModel):
    """`night_window: {start: "23:00", end: "07:00"}`: local, [start, end), may wrap midnight."""

    model_config = _FORBID

    start: TimeOfDay
    end: TimeOfDay

    @model_validator(mode="after")
    def _not_empty(self) -> NightWindowSpec:
        if self.start == self.end:
            raise _fail("start and end are the same time: the night window would be empty")
        return self


class PricesSpec(BaseModel):
    """Standard overage prices of a plan, integer fen."""

    model_config = _FORBID

    data_fen_per_mb: Fen
    voice_fen_per_min: Fen
    video_fen_per_min: Fen


class PlanSpec(BaseModel):
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
    """The top level. Products are validated one by one (see `_build`), so that every
    message can name its product."""

    model_config = _FORBID

    version: Version
    timezone: TimeZoneName = DEFAULT_TIMEZONE
    night_window: NightWindowSpec = NightWindowSpec.model_validate(
        {"start": DEFAULT_NIGHT_WINDOW[0], "end": DEFAULT_NIGHT_WINDOW[1]}
    )
    plans: Annotated[list[Any], Field(min_length=1)]
    packs: list[Any] | None = None


# --------------------------------------------------------------------------------------
# YAML reading
# --------------------------------------------------------------------------------------

_MERGE_TAG: Final = "tag:yaml.org,2002:merge"


class _CatalogLoader(yaml.SafeLoader):
    """A safe loader that refuses a mapping with the same key twice (PyYAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: dict[object, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node)
            try:
                first_line = seen.get(key)
            except TypeError:  # unhashable: the base class reports it
                continue
            if first_line is not None:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first given at line {first_line})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def _read_yaml(text: str, source: str) -> object:
    try:
        return yaml.load(text, Loader=_CatalogLoader)  # a SafeLoader subclass: safe
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = (
            "YAML error"
            if isinstance(exc, yaml.constructor.ConstructorError)
            else "YAML syntax error"
        )
        reason = f"{what}: " + ": ".join(part for part in (exc.context, exc.problem) if part)
        raise CatalogError(
            source,
            [
                CatalogIssue(
                    source,
                    reason,
                    line=mark.line + 1 if mark else None,
                    column=mark.column + 1 if mark else None,
                )
            ],
        ) from None
    except yaml.YAMLError as exc:
        raise CatalogError(source, [CatalogIssue(source, f"YAML error: {exc}")]) from None


# --------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------


def load_catalog(path: str | Path) -> Catalog:
    """Read, validate and freeze a catalog file. Raises CatalogError listing every problem."""
    source = str(path)
    try:
        content = Path(path).read_bytes()
    except OSError as exc:
        reason = f"cannot read catalog file: {exc.strerror or exc}"
        raise CatalogError(source, [CatalogIssue(source, reason)]) from None
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        reason = f"not UTF-8 text (byte 0x{content[exc.start]:02x} at offset {exc.start})"
        raise CatalogError(source, [CatalogIssue(source, reason)]) from None
    return parse_catalog(text, source=source)


def parse_catalog(text: str, source: str = "<string>") -> Catalog:
    """Like `load_catalog`, from YAML text; `source` names it in messages and in Catalog.source."""
    return _build(_read_yaml(text, source), source)


# --------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------


class _Issues:
    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[CatalogIssue] = []

    def add(self, reason: str, product: str | None = None, field: str | None = None) -> None:
        self.items.append(CatalogIssue(self.source, reason, product=product, field=field))

    def add_validation(
        self, error: ValidationError, model: type[BaseModel], product: str | None
    ) -> None:
        for detail in error.errors(include_url=False):
            field = _field_path(detail["loc"])
            self.add(_reason(detail, model), product=product, field=field)


def _field_path(loc: tuple[int | str, ...]) -> str | None:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path or None


def _nested_model(model: type[BaseModel], loc: Sequence[int | str]) -> type[BaseModel] | None:
    current: type[BaseModel] = model
    for part in loc:
        if not isinstance(part, str) or part not in current.model_fields:
            return None
        annotation = current.model_fields[part].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        current = annotation
    return current


def _reason(detail: ErrorDetails, model: type[BaseModel]) -> str:
    kind = detail["type"]
    value = detail.get("input")
    ctx = detail.get("ctx") or {}
    if kind == "catalog":
        return detail["msg"]
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        owner = _nested_model(model, detail["loc"][:-1])
        allowed = f" (allowed: {', '.join(owner.model_fields)})" if owner else ""
        return f"unknown field{allowed}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"expected an integer, got {_describe(value)}"
    if kind == "bool_type":
        return f"expected true or false, got {_describe(value)}"
    if kind == "string_type":
        return f"expected a string, got {_describe(value)}"
    if kind == "list_type":
        return f"expected a list, got {_describe(value)}"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"expected a mapping of fields, got {_describe(value)}"
    if kind == "greater_than_equal":
        return f"must be >= {ctx.get('ge')}, got {_describe(value)}"
    if kind == "greater_than":
        return f"must be > {ctx.get('gt')}, got {_describe(value)}"
    if kind == "less_than_equal":
        return f"must be <= {ctx.get('le')}, got {_describe(value)}"
    if kind == "too_short":
        return f"must have at least {ctx.get('min_length')} item(s)"
    return f"{detail['msg']} (got {_describe(value)})"


def _label(what: str, index: int, raw: object) -> str:
    if isinstance(raw, dict):
        code = raw.get("code")
        if isinstance(code, str) and code.strip():
            return f"{what} {code}"
    return f"{what} #{index}"


# Stand-ins for required fields that failed to parse: they let the cross-field checks of
# `_plan`/`_pack` run on the rest of a product (checks involving a failed field are skipped),
# so one pass reports every problem. A product with a failed field is never built.
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
    issues: _Issues,
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


def _build(data: object, source: str) -> Catalog:
    issues = _Issues(source)
    if data is None:
        issues.add("the file is empty (expected a mapping with version, plans, packs, ...)")
        raise CatalogError(source, issues.items)
    if not isinstance(data, dict):
        issues.add(f"expected a mapping at the top level, got {_describe(data)}")
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
            plan = _plan(plan_spec, _Checks(issues, label, failed))
            if plan is not None:
                plans.setdefault(plan.code, plan)

    for index, raw in enumerate(raw_packs if isinstance(raw_packs, list) else [], start=1):
        label = _label("pack", index, raw)
        claim(raw, label, f"pack #{index}")
        pack_spec, failed = _validate_product(PackSpec, raw, label, issues, _PACK_STAND_INS)
        if pack_spec is not None:
            pack = _pack(pack_spec, _Checks(issues, label, failed))
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


class _Checks:
    """Cross-field checks of one product. A check that involves a field which already
    failed to parse is skipped (its value is a stand-in)."""

    def __init__(self, issues: _Issues, label: str, failed: frozenset[str]) -> None:
        self.issues = issues
        self.label = label
        self.failed = failed
        self.found = bool(failed)

    def can_check(self, *fields: str) -> bool:
        return not self.failed.intersection(fields)

    def add(self, field: str, reason: str) -> None:
        self.issues.add(reason, self.label, field)
        self.found = True


def _plan(spec: PlanSpec, checks: _Checks) -> Plan | None:
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


def _pack(spec: PackSpec, checks: _Checks) -> Pack | None:
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
