"""The growth benchmark at tiny sizes: every path runs and lands in the table.

No timing here (benchmarks/GROWTH.md holds the figures); this only keeps benchmarks/growth.py
working as the commands and the generator change.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from test_benchmarks_smoke import BENCHMARKS, _load


def test_growth_runs_every_path_at_tiny_sizes(tmp_path: Path) -> None:
    out = tmp_path / "GROWTH.md"
    argv = [sys.executable, str(BENCHMARKS / "growth.py"), "--sizes", "100,300", "--runs", "1"]
    argv += ["--work", str(tmp_path / "work"), "--output", str(out)]
    subprocess.run(argv, check=True, capture_output=True, timeout=600)
    rows = {
        line.split(" | ")[0].lstrip("| "): line.split(" | ")
        for line in out.read_text().splitlines()
        if line.startswith("| ") and not line.startswith("| path")
    }
    growth = _load("growth")
    assert set(rows) == {case.name for case in growth.CASES}
    exit_codes = {name: cells[-2] for name, cells in rows.items()}
    # Paths that must succeed on these inputs (others report conflicts or, doctor, a bare clone).
    for name in ("merge-driver clean", "merge-driver renumber", "resolve", "repair", "check"):
        assert exit_codes[name] == "0", (name, exit_codes[name])
    for name in ("format --check", "migrate --dry-run", "allocate", "record", "remove"):
        assert exit_codes[name] == "0", (name, exit_codes[name])
    assert exit_codes["merge-driver field conflicts"] == "1"


def test_edit_shapes_are_deterministic_and_as_described() -> None:
    gen = _load("generate")
    docs = gen.edit_fixtures(300, "fields")
    assert docs == gen.edit_fixtures(300, "fields")
    base, ours, theirs = (docs[s][0]["mappings"] for s in ("base", "ours", "theirs"))
    changed = [k for k in base if ours[k] != base[k]]
    assert len(changed) == 60
    assert sum(ours[k] != theirs[k] for k in changed) == 20
    docs = gen.edit_fixtures(300, "deletes")
    base, ours, theirs = (docs[s][0]["mappings"] for s in ("base", "ours", "theirs"))
    assert len(base) - len(ours) == 30 and len(base) - len(theirs) == 30
    assert all(theirs[k] != base[k] for k in base if k not in ours)
