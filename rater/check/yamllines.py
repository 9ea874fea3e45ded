"""The line of a field in a YAML file, from its node tree: where `rater check` points."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

import yaml

_PATH_PART: Final = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def field_path(dotted: str | None) -> list[str | int]:
    """ "prices.voice_fen_per_min" -> [prices, voice_fen_per_min]; "apps[1]" -> [apps, 1]."""
    out: list[str | int] = []
    for index, key in _PATH_PART.findall(dotted or ""):
        out.append(int(index) if index else key)
    return out


def line_of(node: yaml.Node | None, path: Sequence[str | int]) -> int:
    """The 1-based line of the deepest node on `path` that exists (a key's own line for a
    mapping key), 0 without a node tree."""
    if node is None:
        return 0
    line: int = node.start_mark.line + 1
    for part in path:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == part:
                    line, node = key.start_mark.line + 1, value
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(node.value):
                return line
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def compose(text: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return None
