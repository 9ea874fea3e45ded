"""Fixtures of the catalog tests: write a catalog file into tmp_path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from .helpers import WriteDoc, WriteText


@pytest.fixture
def write_text(tmp_path: Path) -> WriteText:
    def write(text: str, name: str = "catalog.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def write_doc(tmp_path: Path) -> WriteDoc:
    def write(doc: dict[str, Any], name: str = "catalog.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        return path

    return write
