"""The field types of the catalog format: each scalar parsed strictly (as a pydantic
validator), so that YAML's surprises -- `23:00` read as the number 1380, `NO` read as
false, an unquoted date read as a date -- are refused with a reason instead of being
silently converted."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Final, TypeVar

from pydantic import AfterValidator, BeforeValidator, Field, StrictInt

from rater.catalog.decisions import MAX_RATING_GROUP
from rater.catalog.errors import describe, fail
from rater.catalog.model import GB, KB, MB, Effective, FeeMode, PackKind
from rater.catalog.timezones import fixed_utc_offset_minutes

__all__ = [
    "AppId",
    "Code",
    "Count",
    "EffectiveField",
    "FeeModeField",
    "Fen",
    "Kbps",
    "PackKindField",
    "PositiveSize",
    "RatingGroup",
    "Size",
    "Text",
    "TimeOfDay",
    "TimeZoneName",
    "Version",
    "parse_size",
]

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


def parse_size(value: object) -> int:
    """A data volume in bytes: an integer, or a string with a base-1024 unit.

    "3GB" == 3 * 1024**3, "500MB", "1.5MB" (must come to a whole number of bytes),
    "2 GiB" (KiB/MiB/GiB are accepted as synonyms). Raises ValueError otherwise.
    Negative values are returned as such; range checks are the caller's.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a size, got {describe(value)}")
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        raise ValueError(
            f"expected a size (an integer number of bytes, or a string such as '3GB'), "
            f"got {describe(value)}"
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
        raise fail(str(exc)) from None


def _time_of_day(value: object) -> int:
    """A quoted "HH:MM" (24-hour clock, local) -> minutes after midnight."""
    if isinstance(value, int) and not isinstance(value, bool):
        hint = ""
        if value >= 0:
            hours, minutes = divmod(value, 60)
            hint = f" (YAML reads an unquoted {hours}:{minutes:02d} as a base-60 number)"
        raise fail(f'expected a quoted "HH:MM" string, got the number {value}{hint}')
    if not isinstance(value, str):
        raise fail(f'expected a quoted "HH:MM" string, got {describe(value)}')
    match = _HHMM_RE.match(value)
    if match is None:
        raise fail(f'not a time of day: {value!r} (expected "HH:MM", 24-hour clock, e.g. "23:00")')
    hours, minutes = int(match.group(1)), int(match.group(2))
    if hours > 23:
        raise fail(f"hour out of range in {value!r} (expected 00-23)")
    if minutes > 59:
        raise fail(f"minute out of range in {value!r} (expected 00-59)")
    return hours * 60 + minutes


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise fail(f"expected a string, got {describe(value)}")
    if not value.strip():
        raise fail("must not be empty")
    return value


def _code(value: object) -> str:
    text = _text(value)
    if _CODE_RE.match(text) is None:
        raise fail(
            f"not a valid product code: {text!r} (letters, digits, '_' and '-', "
            f"starting with a letter or digit, at most 32 characters)"
        )
    return text


def _app_id(value: object) -> str:
    text = _text(value)
    if text != text.strip() or any(ch.isspace() for ch in text):
        raise fail(f"app id must not contain spaces: {text!r}")
    return text


E = TypeVar("E", bound=StrEnum)


def _enum_parser(enum: type[E], what: str) -> BeforeValidator:
    choices = ", ".join(member.value for member in enum)

    def parse(value: object) -> E:
        if isinstance(value, str):
            for member in enum:
                if member.value == value:
                    return member
            raise fail(f"unknown {what} {value!r} (expected one of {choices})")
        raise fail(f"expected one of {choices}, got {describe(value)}")

    return BeforeValidator(parse)


def _timezone(name: str) -> str:
    try:
        fixed_utc_offset_minutes(name)
    except ValueError as exc:
        raise fail(str(exc)) from None
    return name


def _version(value: object) -> str:
    if isinstance(value, int | float | date) and not isinstance(value, bool):
        shown = value.isoformat() if isinstance(value, date) else value
        raise fail(f'expected a string, got {describe(value)}; quote it: "{shown}"')
    return _text(value)


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
