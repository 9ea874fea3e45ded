"""Test data for the catalog tests: a small valid catalog as a dict (one plan, one pack of
every kind), and the types of the file-writing fixtures of conftest.py."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

PRICES = {"data_fen_per_mb": 29, "voice_fen_per_min": 19, "video_fen_per_min": 29}

BASE: dict[str, Any] = {
    "version": "test-1",
    "timezone": "Asia/Shanghai",
    "night_window": {"start": "23:00", "end": "07:00"},
    "plans": [
        {
            "code": "P58",
            "name": "58 yuan plan",
            "fee_fen": 5800,
            "fee_mode": "monthly",
            "data": "3GB",
            "voice_min": 300,
            "video_min": 0,
            "prices": dict(PRICES),
        },
    ],
    "packs": [
        {"code": "R5G", "name": "Monthly 5GB", "kind": "recurring", "fee_fen": 2000, "data": "5GB"},
        {"code": "T1G", "name": "Top-up 1GB", "kind": "topup", "fee_fen": 1000, "data": "1GB"},
        {
            "code": "ME500M",
            "name": "Month-end",
            "kind": "month_end",
            "fee_fen": 500,
            "data": "500MB",
        },
        {
            "code": "Q30G",
            "name": "Quarterly",
            "kind": "term",
            "fee_fen": 3000,
            "data": "30GB",
            "validity_days": 90,
        },
        {
            "code": "DMIGU6G",
            "name": "Migu",
            "kind": "directional",
            "fee_fen": 900,
            "data": "6GB",
            "apps": ["migu.video"],
        },
        {"code": "N2G", "name": "Night 2GB", "kind": "night", "fee_fen": 1000, "data": "2GB"},
        {"code": "AUNL", "name": "Assured", "kind": "assured", "fee_fen": 1000},
    ],
}


def base_doc() -> dict[str, Any]:
    """A fresh deep copy of a valid catalog with one plan and one pack of every kind."""
    return copy.deepcopy(BASE)


def product(doc: dict[str, Any], code: str) -> dict[str, Any]:
    for section in ("plans", "packs"):
        for item in doc.get(section) or []:
            if isinstance(item, dict) and item.get("code") == code:
                return item
    raise KeyError(code)


WriteText = Callable[..., Path]  # (text, name="catalog.yaml") -> path
WriteDoc = Callable[..., Path]  # (doc, name="catalog.yaml") -> path
