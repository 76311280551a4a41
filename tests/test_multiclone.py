"""Five clones of one bare repository allocate IDs and pull/push in interleaved rounds, both
ways: with local counters (the deliberate github collisions are settled by `extid resolve
--renumber` and counted) and with the remote ledger (`extid install --remote origin`: no pull
may stop for a collision). The simulation is benchmarks/multiclone.py's, which also reports
the renumbered-merge counts side by side.

At the end every task is present once, no external ID is held twice, and every counter is above
every used number.

Cost: nearly all of it is extid's interpreter start-up in the ~50 driver/hook runs per round
(two merge-driver runs and a post-merge or post-rewrite hook per pull, a pre-commit check per
commit), not git. So the child processes run without coverage measurement (which doubled each
start-up; test_git_integration and test_precommit_hooks cover those paths), and 10 rounds with a
collision every third (3 collision rounds, 2 clean rounds between them) exercise everything the
earlier 20 rounds with one every fourth did, at half the pulls.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import git
from git_helpers import COUNTERS, extid, mapping, ok
from promise_world import multiclone as sim

from extid.model import get_counter, highest_used


@pytest.mark.slow
@pytest.mark.usefixtures("without_coverage")  # see the module docstring
@pytest.mark.parametrize("mode", ["local", "remote"])
def test_five_clones_interleaved_rounds(tmp_path: Path, mode: str) -> None:
    if mode == "remote" and not sim.remote_ledger_available():
        pytest.skip("`extid install --remote` does not exist yet (issue 12, branch `remote`)")
    # Every remote allocation is a fetch and a push: 6 rounds (2 with collisions) show that
    # none is left to renumber at a little over half the cost of 10.
    run = sim.simulate(tmp_path, mode, rounds=10 if mode == "local" else 6)
    final = run.final
    for clone in run.clones:
        assert mapping(clone)["mappings"] == final
        ok(extid(clone, "check"))
    assert sorted(final) == sorted(run.tasks)  # every task once (keys are unique by JSON)
    held = [(tool, v) for e in final.values() for tool, v in e.items() if tool not in ("created",)]
    assert len(held) == len(set(held)), "no external ID is held twice"
    counters_doc = git(run.origin, "show", f"main:{COUNTERS}").stdout
    values = json.loads(counters_doc)["counters"]
    for (tool, key), used in highest_used(final).items():
        assert get_counter(values, tool, key) > used, (tool, key, used)
    assert sum(1 for e in final.values() if "github" in e) == 2 * run.collision_rounds
    if mode == "local":
        assert run.resolutions, "the deliberate github collisions were seen"
        for round_, _, stderr in run.resolutions:
            assert "github" in stderr
            assert round_ % 3 == 2, "only deliberate collisions"
    else:
        assert run.resolutions == [], "the remote ledger leaves nothing to renumber"
    print(
        f"{mode}: {len(final)} tasks, {len(run.pulls)} pulls, {run.pulls.count(0)} clean, "
        f"{len(run.resolutions)} stopped for a renumbering"
    )
