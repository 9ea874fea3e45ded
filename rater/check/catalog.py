"""`rater check` of the catalog file, and the plan and pack codes the other files name."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Final

import yaml

from rater.catalog import Catalog, CatalogError, load_catalog
from rater.catalog.errors import CatalogIssue
from rater.check.problems import Problem
from rater.check.yamllines import compose, field_path, line_of

_CODES_SHOWN: Final = 12  # how many catalog codes a message lists


def check_catalog(path: str | Path) -> tuple[Catalog | None, list[Problem]]:
    try:
        return load_catalog(path), []
    except CatalogError as e:
        issues = e.errors
    try:
        root = compose(Path(path).read_bytes().decode("utf-8-sig"))
    except (OSError, UnicodeDecodeError):
        root = None
    problems = [_catalog_problem(root, issue) for issue in issues]
    problems.sort(key=lambda p: p.line)
    return None, problems


def _catalog_problem(root: yaml.Node | None, issue: CatalogIssue) -> Problem:
    path: list[str | int] = []
    label = ""
    if issue.product is not None:
        what, _, name = issue.product.partition(" ")
        section = f"{what}s"  # plan -> plans, pack -> packs
        path = [section, _product_index(root, section, name)]
        label = issue.product
    path += field_path(issue.field)
    line = issue.line if issue.line is not None else line_of(root, path)
    field = ".".join(x for x in (label, issue.field or "") if x)
    return Problem(issue.source, line, field, issue.reason, "catalog")


def _product_index(root: yaml.Node | None, section: str, name: str) -> int:
    """The position of product `name` ("P58", or "#3" for the third) in `section`."""
    if name.startswith("#") and name[1:].isdigit():
        return int(name[1:]) - 1
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            if key.value == section and isinstance(value, yaml.SequenceNode):
                for i, entry in enumerate(value.value):
                    if isinstance(entry, yaml.MappingNode) and any(
                        k.value == "code" and getattr(v, "value", None) == name
                        for k, v in entry.value
                    ):
                        return i
    return -1


def _codes(codes: Iterable[str]) -> str:
    shown = list(codes)
    more = f", ... ({len(shown)} in all)" if len(shown) > _CODES_SHOWN else ""
    return ", ".join(shown[:_CODES_SHOWN]) + more


def plan_problem(catalog: Catalog, code: object) -> str | None:
    if not isinstance(code, str) or code in catalog.plans:
        return None
    if code in catalog.packs:
        return f"{code} is a pack, not a plan (plans: {_codes(catalog.plans)})"
    return f"unknown plan {code!r} (catalog {catalog.version} plans: {_codes(catalog.plans)})"


def pack_problem(catalog: Catalog, code: object) -> str | None:
    if not isinstance(code, str) or code in catalog.packs:
        return None
    if code in catalog.plans:
        return f"{code} is a plan, not a pack (a plan is changed with a change_plan command)"
    return f"unknown pack {code!r} (catalog {catalog.version} packs: {_codes(catalog.packs)})"
