"""Pydantic's validation errors turned into catalog issues: the field as a dotted path,
the product named, and a reason a catalog author can act on (what YAML read, and what
was expected) instead of pydantic's wording."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from rater.catalog.errors import CatalogIssue, describe

__all__ = ["Issues", "field_path", "reason_for"]


class Issues:
    """The problems found so far in one file: collected, not raised, so that one pass
    reports every problem."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[CatalogIssue] = []

    def add(self, reason: str, product: str | None = None, field: str | None = None) -> None:
        self.items.append(CatalogIssue(self.source, reason, product=product, field=field))

    def add_validation(
        self, error: ValidationError, model: type[BaseModel], product: str | None
    ) -> None:
        for detail in error.errors(include_url=False):
            field = field_path(detail["loc"])
            self.add(reason_for(detail, model), product=product, field=field)


def field_path(loc: tuple[int | str, ...]) -> str | None:
    """Pydantic's location as the docs write a field: `prices.voice_fen_per_min`, `apps[1]`."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path or None


def _nested_model(model: type[BaseModel], loc: Sequence[int | str]) -> type[BaseModel] | None:
    """The model at `loc` inside `model`, to list the fields it allows."""
    current: type[BaseModel] = model
    for part in loc:
        if not isinstance(part, str) or part not in current.model_fields:
            return None
        annotation = current.model_fields[part].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        current = annotation
    return current


def reason_for(detail: ErrorDetails, model: type[BaseModel]) -> str:
    """One pydantic error in the catalog's words."""
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
        return f"expected an integer, got {describe(value)}"
    if kind == "bool_type":
        return f"expected true or false, got {describe(value)}"
    if kind == "string_type":
        return f"expected a string, got {describe(value)}"
    if kind == "list_type":
        return f"expected a list, got {describe(value)}"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"expected a mapping of fields, got {describe(value)}"
    if kind == "greater_than_equal":
        return f"must be >= {ctx.get('ge')}, got {describe(value)}"
    if kind == "greater_than":
        return f"must be > {ctx.get('gt')}, got {describe(value)}"
    if kind == "less_than_equal":
        return f"must be <= {ctx.get('le')}, got {describe(value)}"
    if kind == "too_short":
        return f"must have at least {ctx.get('min_length')} item(s)"
    return f"{detail['msg']} (got {describe(value)})"
