"""The product catalog: the frozen model the rating core reads, and its YAML loader."""

from rater.catalog.load import CatalogError, CatalogIssue, load_catalog, parse_catalog, parse_size
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
    "GB",
    "KB",
    "MB",
    "Catalog",
    "CatalogError",
    "CatalogIssue",
    "Effective",
    "FeeMode",
    "NightWindow",
    "Pack",
    "PackKind",
    "Plan",
    "load_catalog",
    "parse_catalog",
    "parse_size",
]
