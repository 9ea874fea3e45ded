"""Reading a catalog file into plain YAML data, refusing what YAML would otherwise
accept silently: a file that is not UTF-8 and a mapping with the same key twice (PyYAML
keeps the last). Syntax errors name their line and column."""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path
from typing import Any, Final

import yaml

from rater.catalog.errors import CatalogError, CatalogIssue

__all__ = ["read_text", "read_yaml"]

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


def read_yaml(text: str, source: str) -> object:
    """The YAML data of `text`; a syntax error raises CatalogError with its line."""
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


def read_text(path: str | Path) -> str:
    """The text of a catalog file (UTF-8, a byte-order mark allowed)."""
    source = str(path)
    try:
        content = Path(path).read_bytes()
    except OSError as exc:
        reason = f"cannot read catalog file: {exc.strerror or exc}"
        raise CatalogError(source, [CatalogIssue(source, reason)]) from None
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        reason = f"not UTF-8 text (byte 0x{content[exc.start]:02x} at offset {exc.start})"
        raise CatalogError(source, [CatalogIssue(source, reason)]) from None
