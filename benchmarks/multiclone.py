"""Five clones of one bare repository allocate IDs and pull/push in interleaved rounds: how many
pulls stop for `extid resolve --renumber`, with the local counters alone and with the remote
ledger (`extid install --remote origin`, issue 12).

    python benchmarks/multiclone.py                  # both modes, writes benchmarks/MULTICLONE.md
    python benchmarks/multiclone.py --output -       # prints only

tests/test_multiclone.py runs the same simulation (`simulate`) and checks its end state. Every
pull goes through the real merge driver (some clones merge, some rebase) and the post-merge /
post-rewrite hooks. Each clone allocates jira/linear IDs in its own project keys (those never
collide), records a field on tasks of the next clone, and every third round two clones allocate
from the one global github sequence at once: with local counters those are collisions, the only
merges allowed to need `extid resolve`; with the remote ledger there must be none. The remote
mode is skipped while this extid has no `install --remote`.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STATE = ".claude/state"
MAPPING = f"{STATE}/external_id_mapping.json"
COUNTERS = f"{STATE}/external_id_counters.json"
HERE = Path(__file__).resolve().parent


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GIT_EDITOR": "true"}
    return subprocess.run(
        ["git", *args], cwd=cwd, check=check, capture_output=True, text=True, env=env
    )


def extid(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`extid ARGS` through main() in this process, in `cwd` (as a user in that clone)."""
    from extid.main import main

    out, err = io.StringIO(), io.StringIO()
    here = os.getcwd()
    os.chdir(cwd)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                rc = main(list(args))
            except SystemExit as e:
                rc = e.code if isinstance(e.code, int) else 1
    finally:
        os.chdir(here)
    return subprocess.CompletedProcess(["extid", *args], rc, out.getvalue(), err.getvalue())


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, (
        f"{proc.args}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    )
    return proc


def remote_ledger_available() -> bool:
    """Whether this extid has the remote ledger (`extid install --remote NAME`)."""
    return "--remote" in extid(Path.cwd(), "install", "--help").stdout


@dataclass
class Run:
    """What one simulation did and left."""

    mode: str
    clones: list[Path]
    origin: Path
    tasks: list[str] = field(default_factory=list)
    pulls: list[int] = field(default_factory=list)  # exit status of every pull
    resolutions: list[tuple[int, int, str]] = field(default_factory=list)  # round, clone, why
    collision_rounds: int = 0
    seconds: float = 0.0

    @property
    def final(self) -> dict[str, Any]:
        mappings: dict[str, Any] = mapping(self.clones[0])["mappings"]
        return mappings


def mapping(repo: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((repo / MAPPING).read_text("utf-8"))
    return doc


class Clone:
    def __init__(self, root: Path, n: int, origin: Path, remote: bool) -> None:
        self.n = n
        self.path = root / f"clone{n}"
        git(root, "clone", "-q", str(origin), self.path.name)
        ok(extid(self.path, "install", "--hooks"))
        if remote:
            ok(extid(self.path, "install", "--remote", "origin"))
        git(self.path, "config", "pull.rebase", "true" if n % 2 else "false")
        self.tasks: list[str] = []

    def new_task(self, rng: random.Random) -> str:
        task = f"TASK-C{self.n}-{rng.randrange(16**4):04x}"
        self.tasks.append(task)
        return task

    def allocate(self, task: str, tool: str, project: str | None = None) -> None:
        ok(extid(self.path, "allocate", task, tool, *(["--project", project] if project else [])))

    def commit(self, message: str) -> bool:
        git(self.path, "add", MAPPING, COUNTERS)
        if git(self.path, "diff", "--cached", "--quiet", check=False).returncode == 0:
            return False
        # the pre-commit hook (`extid check`) runs on every commit: all must stay valid
        git(self.path, "commit", "-q", "-m", message)
        return True

    def sync(self, run: Run, round_: int) -> None:
        """Pull (merge or rebase per clone), resolving only collisions, then push."""
        for _ in range(5):
            proc = git(self.path, "pull", "-q", "--no-edit", "origin", "main", check=False)
            run.pulls.append(proc.returncode)
            while proc.returncode != 0:
                said = proc.stderr + proc.stdout
                assert git(self.path, "ls-files", "-u").stdout, (
                    f"clone{self.n}: pull failed\n{said}"
                )
                # the driver left a conflict: it must be a collision, and nothing else
                assert "is held by both" in said, said
                assert 'is "' not in proc.stderr  # no field conflict
                ok(extid(self.path, "resolve", "--renumber"))
                run.resolutions.append((round_, self.n, proc.stderr))
                assert not git(self.path, "ls-files", "-u").stdout
                proc = self._continue()
            self.commit("post-merge: counters raised")  # what the hook reconciled, if anything
            if git(self.path, "push", "-q", "origin", "HEAD:main", check=False).returncode == 0:
                return
        raise AssertionError(f"clone{self.n}: could not push")

    def _continue(self) -> subprocess.CompletedProcess[str]:
        git_dir = self.path / ".git"
        if (git_dir / "rebase-merge").exists() or (git_dir / "rebase-apply").exists():
            return git(self.path, "rebase", "--continue", check=False)
        return git(self.path, "commit", "-q", "--no-edit", check=False)


def simulate(
    root: Path, mode: str, clones: int = 5, rounds: int = 10, collide_every: int = 3
) -> Run:
    """Run the rounds in `root` (empty), `mode` "local" or "remote"."""
    start = time.perf_counter()
    rng = random.Random(20261126)
    origin = root / "origin.git"
    git(root, "init", "-q", "--bare", "-b", "main", str(origin))
    seed = root / "seed"
    git(root, "clone", "-q", str(origin), "seed")
    ok(extid(seed, "init"))
    ok(extid(seed, "install"))
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "extid state and attributes")
    git(seed, "push", "-q", "origin", "HEAD:main")
    members = [Clone(root, n, origin, mode == "remote") for n in range(clones)]
    run = Run(mode, [c.path for c in members], origin)
    for round_ in range(rounds):
        collide = round_ % collide_every == collide_every - 1
        run.collision_rounds += collide
        pair = rng.sample(range(clones), 2) if collide else []
        for clone in members:
            _round(clone, members, rng, round_, clone.n in pair)
            clone.commit(f"round {round_}: clone{clone.n}")
        for clone in rng.sample(members, clones):
            clone.sync(run, round_)
    for _ in range(2):  # settle: everyone pulls the final state (and pushes raised counters)
        for clone in members:
            clone.sync(run, rounds)
    run.tasks = [t for c in members for t in c.tasks]
    run.seconds = time.perf_counter() - start
    return run


def _round(clone: Clone, members: list[Clone], rng: random.Random, round_: int, gh: bool) -> None:
    task = clone.new_task(rng)
    clone.allocate(task, "jira", f"C{clone.n}")
    if rng.random() < 0.5:
        clone.allocate(task, "linear", f"L{clone.n}")
    # only clone n+1's tasks: two clones never set one field differently
    others = members[(clone.n + 1) % len(members)].tasks
    seen = mapping(clone.path)["mappings"]
    if others and rng.random() < 0.4:  # a field on another clone's synced task
        target = rng.choice(others)
        if target in seen and "azure_devops" not in seen[target]:
            value = str(1000 * (round_ + 1) + clone.n)
            ok(extid(clone.path, "record", target, "azure_devops", value))
    if gh:
        clone.allocate(task, "github")


def isolated_environment(home: Path) -> None:
    """This process and its children (git, hooks, the driver) away from the user's git
    configuration, with this interpreter's `extid` first on PATH."""
    os.environ.update(
        HOME=str(home),
        GIT_CONFIG_GLOBAL=str(home / ".gitconfig"),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="extid bench",
        GIT_COMMITTER_NAME="extid bench",
        GIT_AUTHOR_EMAIL="bench@extid.invalid",
        GIT_COMMITTER_EMAIL="bench@extid.invalid",
        PATH=os.pathsep.join((str(Path(sys.executable).parent), os.environ["PATH"])),
    )


def report(runs: dict[str, Run | None], clones: int, rounds: int) -> str:
    lines = [
        "# Multi-clone simulation: renumbered merges, local counters vs the remote ledger",
        "",
        f"{clones} clones of one bare repository, {rounds} rounds (1-3 allocations per clone "
        "per round, two clones allocating from the global github sequence every third round), "
        "pulls by merge and by rebase through the real driver and hooks. "
        "Made by `python benchmarks/multiclone.py`.",
        "",
        "| mode | tasks | pulls | clean pulls | renumbered merges | seconds |",
        "|---|---|---|---|---|---|",
    ]
    for mode, run in runs.items():
        if run is None:
            lines.append(f"| {mode} | skipped: this extid has no `install --remote` | | | | |")
            continue
        lines.append(
            f"| {mode} | {len(run.final)} | {len(run.pulls)} | {run.pulls.count(0)} | "
            f"{len(run.resolutions)} | {run.seconds:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clones", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--output", default=str(HERE / "MULTICLONE.md"), help="- to print only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="extid-multiclone-") as tmp:
        isolated_environment(Path(tmp))
        runs: dict[str, Run | None] = {}
        for mode in ("local", "remote"):
            if mode == "remote" and not remote_ledger_available():
                runs[mode] = None
                continue
            root = Path(tmp) / mode
            root.mkdir()
            runs[mode] = simulate(root, mode, args.clones, args.rounds)
        text = report(runs, args.clones, args.rounds)  # reads the clones: before they go
    print(text, end="")
    if args.output != "-":
        Path(args.output).write_text(text, "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
