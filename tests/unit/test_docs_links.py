"""The README and docs stand alone: every file they link or name in backticks as a path
exists in the repo, and none points outside it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
# `path/like/this.ext` in backticks, the way the docs name files
NAMED = re.compile(r"`((?:\.\./|[\w.-]+/)+[\w.-]+\.(?:py|md|yaml|yml|json|avsc|jsonl|sh|toml))`")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_link_resolves_inside_the_repo(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+://", target):
            continue  # an external address is not a file of the repo
        path = (doc.parent / target).resolve()
        if not path.is_relative_to(ROOT) or not path.exists():
            broken.append(target)
    assert broken == [], f"{doc.name}: links outside the repo or to nothing: {broken}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_file_named_exists(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    missing = []
    for name in NAMED.findall(text):
        if "<" in name or "*" in name or name.startswith("var/"):
            continue  # a pattern, or what a command writes (var/ is the work folder)
        candidates = [(doc.parent / name).resolve(), (ROOT / name).resolve()]
        if not any(c.is_relative_to(ROOT) and c.exists() for c in candidates):
            missing.append(name)
    assert missing == [], f"{doc.name} names files that are not in the repo: {missing}"


def test_every_setting_is_documented() -> None:
    """docs/configuration.md has a row for each field of `Settings` (and of its topics),
    with its default, so that a new setting cannot go undocumented."""
    from rater.config import Settings, Topics

    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    rows = {line.split("|")[1].strip() for line in text.splitlines() if line.startswith("| `")}
    fields = {f"`{name}`" for name in Settings.model_fields if name != "topics"}
    fields |= {f"`topics.{name}`" for name in Topics.model_fields}
    assert sorted(fields - rows) == [], "settings missing from docs/configuration.md"
    assert sorted(rows - fields) == [], "docs/configuration.md names settings that do not exist"


RULES = ROOT / "docs" / "rules.md"
# [`rater.core.money:overage_fen_to_date`](../rater/core/money.py): the function and its file
IMPLEMENTED = re.compile(r"\[`(rater(?:\.\w+)+):([\w.]+)`\]\(([^)]+)\)")
CITED_TEST = re.compile(r"`(test_\w+)`")


def _test_names() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "tests").rglob("test_*.py"):
        names.update(re.findall(r"^\s*(?:async )?def (test_\w+)\(", path.read_text(), re.M))
    return names


def test_every_function_named_in_the_rules_exists() -> None:
    """Each `module:function` of docs/rules.md imports, and its link is the module's file:
    a rule moved or renamed in the code must be moved in the doc too."""
    import importlib

    found = IMPLEMENTED.findall(RULES.read_text(encoding="utf-8"))
    assert len(found) >= 14, "docs/rules.md names the function of every rule"
    problems = []
    for module_name, qualname, link in found:
        module = importlib.import_module(module_name)
        target: object = module
        for part in qualname.split("."):
            target = getattr(target, part, None)
            if target is None:
                problems.append(f"{module_name}:{qualname} does not exist")
                break
        source = Path(module.__file__ or "")
        if (RULES.parent / link).resolve() != source.resolve():
            problems.append(f"{module_name}:{qualname} links {link}, not {source}")
    assert problems == []


def test_every_test_cited_in_the_rules_exists() -> None:
    cited = set(CITED_TEST.findall(RULES.read_text(encoding="utf-8")))
    assert len(cited) > 100
    assert sorted(cited - _test_names()) == [], "docs/rules.md cites tests that do not exist"
