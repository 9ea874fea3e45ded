"""Synthetic but realistic workloads: subscribers with a mix of plans and packs, and
usage with day and night traffic, directional apps, calls, roaming and duplicates.
Deterministic for a seed. Used by benchmarks, the demo and the differential tests."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from rater.catalog.model import Catalog, PackKind
from rater.core.cycles import from_ms
from rater.core.inputs import Direction, Roaming, UsageRecord, UsageType

PROVINCES = ("GD", "BJ", "SH", "ZJ", "JS", "SC")


def subscribers(
    catalog: Catalog,
    n: int,
    start_ms: int,
    seed: int = 1,
    sharing_every: int = 50,
    spread_days: int = 40,
) -> list[dict[str, Any]]:
    """Subscriber-file entries (see rater.subscribers) for `n` subscribers."""
    rng = random.Random(seed)
    plans = sorted(catalog.plans)
    by_kind: dict[str, list[str]] = {}
    for p in sorted(catalog.packs.values(), key=lambda p: p.code):
        if p.effective == "immediate":
            by_kind.setdefault(p.kind, []).append(p.code)
    out: list[dict[str, Any]] = []
    owner: dict[str, Any] | None = None
    for i in range(n):
        msisdn = f"1380{i:07d}"
        province = PROVINCES[0] if rng.random() < 0.7 else rng.choice(PROVINCES)
        entry: dict[str, Any] = {
            "msisdn": msisdn,
            "plan": rng.choice(plans),
            "cycle_day": rng.choice((1, 1, 1, 5, 10, 15, 20, 28)),
            "home_province": province,
            "activated": from_ms(
                start_ms - rng.randrange(0, spread_days) * 86_400_000, 8 * 3_600_000
            ),
        }
        packs = []
        for kind, chance in (
            (PackKind.NIGHT, 0.3),
            (PackKind.DIRECTIONAL, 0.3),
            (PackKind.RECURRING, 0.2),
            (PackKind.TOPUP, 0.1),
            (PackKind.ASSURED, 0.05),
            (PackKind.TERM, 0.05),
        ):
            if by_kind.get(kind) and rng.random() < chance:
                packs.append(rng.choice(by_kind[kind]))
        if packs:
            entry["packs"] = packs
        if owner is not None and i % sharing_every == 1 and owner["home_province"] == province:
            entry["shares_with"] = owner["msisdn"]
            entry["activated"] = max(entry["activated"], owner["activated"])  # owner first
        elif i % sharing_every == 0:
            owner = entry
        out.append(entry)
    return out


def usage(
    catalog: Catalog,
    subs: list[dict[str, Any]],
    n: int,
    start_ms: int,
    end_ms: int,
    seed: int = 2,
    duplicate_rate: float = 0.002,
) -> Iterator[UsageRecord]:
    """`n` records with start times rising from `start_ms` to `end_ms`."""
    rng = random.Random(seed)
    apps = sorted({a for p in catalog.packs.values() for a in p.apps}) or ["app.generic"]
    step = (end_ms - start_ms) / max(n, 1)
    last: UsageRecord | None = None
    for i in range(n):
        if last is not None and rng.random() < duplicate_rate:
            yield last  # a mediation duplicate
            continue
        sub = subs[rng.randrange(len(subs))]
        t = start_ms + int(i * step)
        kind = rng.random()
        province = sub["home_province"] if rng.random() < 0.9 else rng.choice(PROVINCES)
        roaming = (
            Roaming.INTERNATIONAL
            if rng.random() < 0.005
            else (Roaming.HOME if province == sub["home_province"] else Roaming.NATIONAL)
        )
        if kind < 0.75:
            volume = int(rng.lognormvariate(14, 2.0)) % (300 * 1024 * 1024)
            app = rng.choice(apps) if rng.random() < 0.25 else None
            up = volume // 8
            rec = UsageRecord(
                f"u{seed}-{i}",
                sub["msisdn"],
                UsageType.DATA,
                t,
                rng.randrange(1, 3600),
                up,
                volume - up,
                app,
                None,
                province,
                "LTE",
                roaming,
                None,
                i,
            )
        else:
            video = kind > 0.95
            rec = UsageRecord(
                f"u{seed}-{i}",
                sub["msisdn"],
                UsageType.VIDEO if video else UsageType.VOICE,
                t,
                int(rng.expovariate(1 / 150)),
                0,
                0,
                None,
                None,
                province,
                "LTE",
                roaming,
                Direction.MO if rng.random() < 0.6 else Direction.MT,
                i,
            )
        last = rec
        yield rec
