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

The steps, one module each:

* `reading`: the file's text and its YAML (duplicate keys refused, lines named);
* `specs` and `fields`: the format as pydantic models with strict field types;
* `timezones`: the zone must have one UTC offset all year;
* `build` and `products`: every product checked across its fields, then frozen;
* `decisions`: the table of what each pack kind allows (`PACK_KIND_RULES`);
* `errors` and `messages`: the issues, and pydantic's errors in the catalog's words.

The names below are re-exported for the modules that import them from here.
"""

from __future__ import annotations

from pathlib import Path

from rater.catalog.build import build_catalog
from rater.catalog.decisions import (
    DEFAULT_NIGHT_WINDOW,
    DEFAULT_TIMEZONE,
    PACK_KIND_RULES,
    TERM_VALIDITY_DAYS,
    KindRule,
)
from rater.catalog.errors import CatalogError, CatalogIssue
from rater.catalog.fields import parse_size
from rater.catalog.model import Catalog
from rater.catalog.reading import read_text, read_yaml
from rater.catalog.timezones import fixed_utc_offset_minutes

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


def load_catalog(path: str | Path) -> Catalog:
    """Read, validate and freeze a catalog file. Raises CatalogError listing every problem."""
    return parse_catalog(read_text(path), source=str(path))


def parse_catalog(text: str, source: str = "<string>") -> Catalog:
    """Like `load_catalog`, from YAML text; `source` names it in messages and in Catalog.source."""
    return build_catalog(read_yaml(text, source), source)
