"""The benchmark generator at a tiny size: valid, consistent, realistic, deterministic files.

No timing here (the suite in benchmarks/ is the measure); this only keeps the generator honest
so the figures in benchmarks/RESULTS.md are about the files the issue describes.
"""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from extid import document, ids, model
from extid.validate import check_document, check_pair

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gen() -> ModuleType:
    return _load("generate")


def _shares(mappings: dict[str, Any]) -> dict[str, float]:
    counts = Counter(field for entry in mappings.values() for field in entry)
    return {field: n / len(mappings) for field, n in counts.items()}


def test_generated_state_is_valid_and_realistic(gen: ModuleType, tmp_path: Path) -> None:
    gen.write_state(tmp_path, 2000)
    mapping_bytes = (tmp_path / gen.MAPPING_FILE).read_bytes()
    counters_bytes = (tmp_path / gen.COUNTERS_FILE).read_bytes()
    mapping = document.parse(mapping_bytes, "m")
    counters = document.parse(counters_bytes, "c")
    assert mapping.canonical and counters.canonical
    assert check_document(mapping.obj, "mapping", "m") == []
    assert check_document(counters.obj, "counters", "c") == []
    assert check_pair(mapping.obj, counters.obj, "m", "c") == []

    mappings = mapping.obj["mappings"]
    assert len(mappings) == 2000
    assert len({ids.fold(k) for k in mappings}) == 2000
    shares = _shares(mappings)
    assert shares["created"] == shares["epic"] == 1.0
    for tool, want in {"jira": 0.8, "azure_devops": 0.5, "linear": 0.5, "github": 0.6}.items():
        assert abs(shares[tool] - want) < 0.05, (tool, shares[tool])
    assert 35 <= len({e["epic"] for e in mappings.values()}) <= 40
    assert {e["jira"].split("-")[0] for e in mappings.values() if "jira" in e} == {
        "PROJ",
        "CORE",
        "WEB",
        "OPS",
    }
    assert {e["linear"].split("-")[0] for e in mappings.values() if "linear" in e} == {
        "TEAM",
        "PLAT",
    }
    assert any("." in k for k in mappings) and any(k.count("-") == 2 for k in mappings)


def test_counters_are_exactly_highest_used_plus_one(gen: ModuleType) -> None:
    mapping, counters = gen.state_documents(500)
    high = model.highest_used(mapping["mappings"])
    stored = dict(model.iter_counters(counters["counters"]))
    assert stored == {k: v + 1 for k, v in high.items()}


def test_generation_is_deterministic(gen: ModuleType, tmp_path: Path) -> None:
    gen.write_state(tmp_path / "a", 300)
    gen.write_state(tmp_path / "b", 300)
    for name in (gen.MAPPING_FILE, gen.COUNTERS_FILE):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def _external(mappings: dict[str, Any]) -> set[tuple[str, str]]:
    return {(t, e[t]) for e in mappings.values() for t in ids.TOOLS if t in e}


@pytest.mark.parametrize("collide", [True, False])
def test_merge_fixtures(gen: ModuleType, collide: bool) -> None:
    docs = gen.merge_fixtures(400, 50, collide=collide)
    base = docs["base"][0]["mappings"]
    added = {}
    for side in ("ours", "theirs"):
        mapping, counters = docs[side]
        assert check_document(mapping, "mapping", side) == []
        assert check_pair(mapping, counters, side, side) == []
        assert base.keys() <= mapping["mappings"].keys()
        added[side] = {k: v for k, v in mapping["mappings"].items() if k not in base}
        assert len(added[side]) == 50
    assert not {ids.fold(k) for k in added["ours"]} & {ids.fold(k) for k in added["theirs"]}
    shared = _external(added["ours"]) & _external(added["theirs"])
    # Like two branches that each ran `extid allocate`, or that recorded the tools' own IDs.
    assert bool(shared) == collide
    assert not _external(base) & (_external(added["ours"]) | _external(added["theirs"]))
