"""Five clones of one bare repository allocate IDs and pull/push in interleaved rounds.

Every pull goes through the real merge driver (some clones merge, some rebase) and the
post-merge/post-rewrite hooks. Each clone allocates jira/linear IDs in its own project keys
(those never collide), records a field on tasks of the next clone, and every third round two
clones allocate from the one global github sequence at once: those are the deliberate
collisions, the only merges allowed to need `extid resolve`. At the end every task is present
once, no external ID is held twice, and every counter is above every used number.

Cost: nearly all of it is extid's interpreter start-up in the ~50 driver/hook runs per round
(two merge-driver runs and a post-merge or post-rewrite hook per pull, a pre-commit check per
commit), not git. So the child processes run without coverage measurement (which doubled each
start-up; test_git_integration and test_precommit_hooks cover those paths), and 10 rounds with a
collision every third (3 collision rounds, 2 clean rounds between them) exercise everything the
earlier 20 rounds with one every fourth did, at half the pulls.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path

import pytest
from conftest import git
from git_helpers import COUNTERS, MAPPING, extid, mapping, ok, unmerged

from extid.mapper import ExternalIDMapper
from extid.model import get_counter, highest_used

CLONES = 5
ROUNDS = 10
COLLISION_EVERY = 3
PULLS: list[int] = []  # exit status of every pull, for the summary line


class Clone:
    def __init__(self, root: Path, n: int, origin: Path) -> None:
        self.n = n
        self.path = root / f"clone{n}"
        git(root, "clone", "-q", str(origin), self.path.name)
        ok(extid(self.path, "install"))
        git(self.path, "config", "pull.rebase", "true" if n % 2 else "false")
        self.mapper = ExternalIDMapper(self.path / ".claude" / "state")
        self.tasks: list[str] = []

    def new_task(self, rng: random.Random) -> str:
        task = f"TASK-C{self.n}-{rng.randrange(16**4):04x}"
        self.tasks.append(task)
        return task

    def commit(self, message: str) -> bool:
        git(self.path, "add", MAPPING, COUNTERS)
        if git(self.path, "diff", "--cached", "--quiet", check=False).returncode == 0:
            return False
        # the pre-commit hook (`extid check`) runs on every commit: all must stay valid
        git(self.path, "commit", "-q", "-m", message)
        return True

    def sync(self, resolutions: list[tuple[int, int, str]], round_: int) -> None:
        """Pull (merge or rebase per clone), resolving only collisions, then push."""
        for _ in range(5):
            proc = git(self.path, "pull", "-q", "--no-edit", "origin", "main", check=False)
            PULLS.append(proc.returncode)
            while proc.returncode != 0:
                assert unmerged(self.path), f"clone{self.n}: pull failed\n{proc.stderr}"
                # the driver left a conflict: it must be a collision, and nothing else
                assert "is held by both" in proc.stderr + proc.stdout, proc.stderr + proc.stdout
                assert 'is "' not in proc.stderr  # no field conflict
                ok(extid(self.path, "resolve", "--renumber"))
                resolutions.append((round_, self.n, proc.stderr))
                assert not unmerged(self.path)
                proc = self._continue()
            self.commit("post-merge: counters raised")  # what the hook reconciled, if anything
            if git(self.path, "push", "-q", "origin", "HEAD:main", check=False).returncode == 0:
                return
        raise AssertionError(f"clone{self.n}: could not push")

    def _continue(self) -> subprocess.CompletedProcess[str]:
        env_editor = {"GIT_EDITOR": "true"}
        if (self.path / ".git" / "rebase-merge").exists() or (
            self.path / ".git" / "rebase-apply"
        ).exists():
            return _git_env(self.path, env_editor, "rebase", "--continue")
        return _git_env(self.path, env_editor, "commit", "-q", "--no-edit")


def _git_env(cwd: Path, extra: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, **extra}
    )


@pytest.mark.slow
@pytest.mark.usefixtures("without_coverage")  # see the module docstring
def test_five_clones_interleaved_rounds(tmp_path: Path) -> None:
    rng = random.Random(20261126)
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    seed = tmp_path / "seed"
    git(tmp_path, "clone", "-q", str(origin), "seed")
    ok(extid(seed, "init"))
    ok(extid(seed, "install", "--no-hooks"))
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "extid state and attributes")
    git(seed, "push", "-q", "origin", "HEAD:main")
    clones = [Clone(tmp_path, n, origin) for n in range(CLONES)]
    resolutions: list[tuple[int, int, str]] = []
    collision_rounds = 0
    for round_ in range(ROUNDS):
        collide = round_ % COLLISION_EVERY == COLLISION_EVERY - 1
        collision_rounds += collide
        pair = rng.sample(range(CLONES), 2) if collide else []
        for clone in clones:
            with clone.mapper.batch() as b:
                task = clone.new_task(rng)
                b.allocate(task, "jira", f"C{clone.n}")
                if rng.random() < 0.5:
                    b.allocate(task, "linear", f"L{clone.n}")
                # only clone n+1's tasks: two clones never set one field differently
                others = clones[(clone.n + 1) % CLONES].tasks
                seen = clone.mapper.mappings()
                if others and rng.random() < 0.4:  # a field on another clone's synced task
                    target = rng.choice(others)
                    if target in seen and "azure_devops" not in seen[target]:
                        b.record(target, "azure_devops", str(1000 * (round_ + 1) + clone.n))
                if clone.n in pair:
                    b.allocate(task, "github")
            clone.commit(f"round {round_}: clone{clone.n}")
        for clone in rng.sample(clones, CLONES):
            clone.sync(resolutions, round_)
    for _ in range(2):  # settle: everyone pulls the final state (and pushes raised counters)
        for clone in clones:
            clone.sync(resolutions, ROUNDS)
    final = mapping(clones[0].path)["mappings"]
    for clone in clones:
        assert mapping(clone.path)["mappings"] == final
        ok(extid(clone.path, "check"))
    created = [t for c in clones for t in c.tasks]
    assert sorted(final) == sorted(created)  # every task once (keys are unique by JSON)
    held = [(tool, v) for e in final.values() for tool, v in e.items() if tool not in ("created",)]
    assert len(held) == len(set(held)), "no external ID is held twice"
    counters_doc = git(origin, "show", f"main:{COUNTERS}").stdout
    values = json.loads(counters_doc)["counters"]
    for (tool, key), used in highest_used(final).items():
        assert get_counter(values, tool, key) > used, (tool, key, used)
    assert sum(1 for e in final.values() if "github" in e) == 2 * collision_rounds
    assert resolutions, "the deliberate github collisions were seen"
    for round_, _, stderr in resolutions:
        assert "github" in stderr
        assert round_ % COLLISION_EVERY == COLLISION_EVERY - 1, "only deliberate collisions"
    print(
        f"{ROUNDS} rounds x {CLONES} clones: {len(final)} tasks, {len(PULLS)} pulls, "
        f"{PULLS.count(0)} clean, {len(resolutions)} stopped on a deliberate collision"
    )
