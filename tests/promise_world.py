"""The world the promise tests act on: one bare repository and three clones with the merge
driver installed, every number extid printed, and the two halves of the promise checked against
what git really holds.

The promise: a number, once issued, is never issued again (`Ledger.issue`), and no acknowledged
mapping is lost (`World.check_kept`). "Lost" is defined by ancestry, so that it says exactly
what git's history says and nothing more:

- An acknowledgement (`Ack`) is a mapping extid confirmed: `allocate` printed it, or `record`
  exited 0. It lives in the work tree that made it (pending) until a commit there takes it;
  that commit (and a stash commit, and the tip a rebase replayed it onto) *introduces* it.
- A user removal is the same kind of event: `extid remove`, or `git revert` of a commit that
  introduced a mapping, committed somewhere.
- Every ref of every repository (branches, remote-tracking refs, the stash, origin's branches)
  whose history contains a commit that introduced an acknowledgement, and no commit of a user
  removal of it, must hold it in its tree; every work tree must hold what its HEAD must hold
  (less its pending removals) plus its pending acknowledgements. A mapping only on a branch
  nobody merged is not required anywhere else; `reset --hard` drops what it discards on
  purpose.
- A renumbering is an explicit event: `extid resolve` or the driver report
  "renumbered TASK TOOL OLD -> NEW", and NEW is then accepted wherever OLD was required. The
  renumbered number counts as issued by the clone whose resolve or merge reported it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from conftest import git

STATE = ".claude/state"
MAPPING = f"{STATE}/external_id_mapping.json"
COUNTERS = f"{STATE}/external_id_counters.json"
CLONES = 3
SHARED_TOOL = "github"  # one sequence every clone allocates from: collisions across clones
RECORD_TOOL = "azure_devops"  # only ever recorded, with values unique in the world
RENUMBERED_RE = re.compile(r"renumbered (\S+) (\S+) (\S+) -> (\S+)")
_GIT_EDITOR = {"GIT_EDITOR": "true"}


def own_key(clone: int) -> str:
    """The jira project only this clone allocates from: no collision across clones is legal."""
    return f"C{clone}"


def _load_benchmark(name: str) -> ModuleType:
    path = Path(__file__).resolve().parent.parent / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


#: benchmarks/multiclone.py: the five-clone simulation, and the in-process CLI both use.
multiclone = _load_benchmark("multiclone")
extid_in: Callable[..., subprocess.CompletedProcess[str]] = multiclone.extid
remote_ledger_available: Callable[[], bool] = multiclone.remote_ledger_available


def git_env(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """git with an editor that accepts the prepared message (merge/rebase/revert continue)."""
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **_GIT_EDITOR},
    )


def make_template(root: Path, remote: bool = False) -> Path:
    """origin.git (bare, one commit holding empty state files and .gitattributes) and clones
    0..2 with the driver installed, origin named by a relative URL so the whole directory can
    be copied for each example."""
    root.mkdir(parents=True)
    origin = root / "origin.git"
    git(root, "init", "-q", "--bare", "--template=", "-b", "main", str(origin))
    seed = root / "seed"
    git(root, "clone", "-q", "--template=", "origin.git", "seed")
    assert extid_in(seed, "init").returncode == 0
    assert extid_in(seed, "install").returncode == 0
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "extid state and attributes")
    git(seed, "push", "-q", "origin", "HEAD:main")
    shutil.rmtree(seed)
    for n in range(CLONES):
        git(root, "clone", "-q", "--template=", "origin.git", f"clone{n}")
        path = root / f"clone{n}"
        git(path, "config", "remote.origin.url", "../origin.git")
        install = ("install", "--remote", "origin") if remote else ("install",)
        proc = extid_in(path, *install)
        assert proc.returncode == 0, proc.stderr
    return root


@dataclass(eq=False)
class Ack:
    """A mapping extid acknowledged, and the commits that introduced it."""

    task: str
    tool: str
    value: str
    clone: int
    commits: set[str] = field(default_factory=set)


@dataclass(eq=False)
class Removal:
    """A user's removal of a task's mapping (`tool` None: all of them), and its commits."""

    task: str
    tool: str | None
    commits: set[str] = field(default_factory=set)

    def covers(self, ack: Ack) -> bool:
        return self.task == ack.task and self.tool in (None, ack.tool)


class Reissued(AssertionError):
    """A number was handed to two different tasks where the promise says it cannot be."""


class Lost(AssertionError):
    """An acknowledged mapping is gone from a place that must hold it."""


class Ledger:
    """Every number extid handed out: by `allocate` or by a reported renumbering."""

    def __init__(self, remote: bool) -> None:
        self.remote = remote
        self.enforce = True  # False: count re-issues (`reissues`) and go on
        self.reissues: list[str] = []
        self.issued: dict[tuple[str, str], list[tuple[str, int, str]]] = {}
        self.renamed: dict[tuple[str, str], set[str]] = {}
        self.renumberings = 0

    def issue(self, tool: str, value: str, task: str, clone: int, how: str) -> None:
        """Log one issue; a number issued before to another task is a re-issue when the same
        clone issued it (the local promise), when it is one clone's own jira key (nobody else
        allocates from it), or with the remote ledger (the promise across clones)."""
        seen = self.issued.setdefault((tool, value), [])
        for other_task, other_clone, other_how in seen:
            if other_task == task:
                continue
            if other_clone == clone or tool != SHARED_TOOL or self.remote:
                message = (
                    f"{tool} {value} issued twice: to {other_task} by clone{other_clone} "
                    f"({other_how}), then to {task} by clone{clone} ({how})"
                )
                if self.enforce:
                    raise Reissued(message)
                self.reissues.append(message)
        seen.append((task, clone, how))

    def renumbered(self, output: str, clone: int, how: str) -> None:
        """Account for every renumbering a resolve or a merge reported."""
        for task, tool, old, new in RENUMBERED_RE.findall(output):
            self.renumberings += 1
            self.renamed.setdefault((task, tool), set()).update((old, new))
            self.issue(tool, new, task, clone, f"renumbered by {how}")

    def accepts(self, ack: Ack, value: Any) -> bool:
        return value == ack.value or value in self.renamed.get((ack.task, ack.tool), ())


def read_mappings(data: bytes | None) -> dict[str, Any]:
    if not data:
        return {}
    doc = json.loads(data)
    mappings: dict[str, Any] = doc.get("mappings", {})
    return mappings


class Snapshot:
    """One repository's refs, commit graph and mappings at each ref: one `git log`, and one
    `git cat-file --batch` for the commits not read before (`cache`: sha -> mappings)."""

    def __init__(self, repo: Path, cache: dict[str, dict[str, Any]]) -> None:
        self.refs: dict[str, str] = {}
        self.parents: dict[str, list[str]] = {}
        log = git(repo, "log", "--all", "--decorate=full", "--format=%H %P%x09%D").stdout
        for line in log.splitlines():
            commits, _, names = line.partition("\t")
            sha, *parents = commits.split()
            self.parents[sha] = parents
            for name in filter(None, names.split(", ")):
                name = name.removeprefix("HEAD -> ")
                if name.startswith("refs/"):
                    self.refs[name] = sha
        self._reach: dict[str, frozenset[str]] = {}
        unread = sorted({sha for sha in self.refs.values() if sha not in cache})
        if unread:
            names = "".join(f"{sha}:{MAPPING}\n" for sha in unread).encode()
            batch = subprocess.run(
                ["git", "cat-file", "--batch"], cwd=repo, input=names, capture_output=True
            ).stdout
            for sha, blob in zip(unread, _split_batch(batch), strict=True):
                cache[sha] = read_mappings(blob)
        self.files = {sha: cache[sha] for sha in self.refs.values()}

    def reach(self, sha: str) -> frozenset[str]:
        if sha not in self._reach:
            seen: set[str] = set()
            todo = [sha]
            while todo:
                c = todo.pop()
                if c not in seen:
                    seen.add(c)
                    todo += self.parents.get(c, [])
            self._reach[sha] = frozenset(seen)
        return self._reach[sha]


def _split_batch(out: bytes) -> list[bytes | None]:
    """The objects of `git cat-file --batch` output, None for a missing one."""
    blobs: list[bytes | None] = []
    pos = 0
    while pos < len(out):
        end = out.index(b"\n", pos)
        header = out[pos:end].split()
        if header[-1] == b"missing":
            blobs.append(None)
            pos = end + 1
            continue
        size = int(header[2])
        blobs.append(out[end + 1 : end + 1 + size])
        pos = end + 1 + size + 1
    return blobs


class Place:
    """A work tree of a clone: what it acknowledged and has not committed yet."""

    def __init__(self, clone: int, path: Path) -> None:
        self.clone, self.path = clone, path
        self.pending: list[Ack] = []
        self.removing: list[Removal] = []
        self.stashed: list[tuple[list[Ack], list[Removal]]] = []

    @property
    def git_dir(self) -> Path:
        dot = self.path / ".git"
        if dot.is_file():  # a linked work tree: `gitdir: <its directory in the clone>`
            return Path(dot.read_text().split(":", 1)[1].strip())
        return dot

    def head_ref(self) -> str:
        head = (self.git_dir / "HEAD").read_text().strip()
        return head[5:] if head.startswith("ref: ") else head

    def branch(self) -> str:
        return self.head_ref().removeprefix("refs/heads/")

    def mappings(self) -> dict[str, Any]:
        path = self.path / MAPPING
        return read_mappings(path.read_bytes() if path.is_file() else None)

    def unmerged(self) -> bool:
        return bool(git(self.path, "ls-files", "-u").stdout)

    def in_progress(self, kind: str) -> bool:
        marks = {
            "merge": ("MERGE_HEAD",),
            "rebase": ("rebase-merge", "rebase-apply"),
            "cherry-pick": ("CHERRY_PICK_HEAD",),
            "revert": ("REVERT_HEAD",),
            "stash": (),
        }[kind]
        return any((self.git_dir / m).exists() for m in marks)


# How a user finishes, skips or gives up each operation git stopped in.
_CONTINUE = {
    "merge": ("commit", "-q", "--no-edit"),
    "rebase": ("rebase", "--continue"),
    "cherry-pick": ("cherry-pick", "--continue"),
    "revert": ("revert", "--continue"),
}
_SKIP = {**_CONTINUE, "rebase": ("rebase", "--skip"), "cherry-pick": ("cherry-pick", "--skip")}
_ABORT = {
    "merge": ("merge", "--abort"),
    "rebase": ("rebase", "--abort"),
    "cherry-pick": ("cherry-pick", "--abort"),
    "revert": ("revert", "--abort"),
    "stash": ("reset", "-q", "--hard"),  # a popped stash that conflicted stays in the list
}


class World:
    """The clones, what extid acknowledged in them, and the checks of the promise."""

    def __init__(self, root: Path, remote: bool = False) -> None:
        self.root = root
        self.ledger = Ledger(remote)
        self.places = [Place(n, root / f"clone{n}") for n in range(CLONES)]
        self.acks: list[Ack] = []
        self.removals: list[Removal] = []
        self.seq = 0
        self.seed = git(self.places[0].path, "rev-parse", "HEAD").stdout.strip()
        self.trees: dict[str, dict[str, Any]] = {}  # commit -> its mappings, read once
        # Repositories an operation changed since the last check. Those it did not change need
        # no new look: their refs are as they were, and what they must hold can only shrink
        # (an acknowledgement's commits appear where they were made; removals and
        # renumberings only excuse).
        self.touched: set[str] = {"origin.git", *(p.path.name for p in self.places)}
        self.outcomes: dict[str, int] = {}  # "pull: aborted" -> count, for the explore summary

    def at(self, clone: int) -> Place:
        """Clone `clone`'s main work tree, which the caller is about to act on."""
        place = self.places[clone]
        self.touched.add(place.path.name)
        return place

    def fresh(self, clone: int) -> str:
        self.seq += 1
        return f"TASK-{clone:x}{self.seq:04x}"

    def head(self, place: Place) -> str:
        return git(place.path, "rev-parse", "HEAD").stdout.strip()

    # --- what extid acknowledges -------------------------------------------------------------

    def allocate(self, place: Place, shared: bool) -> str:
        task = self.fresh(place.clone)
        tool = SHARED_TOOL if shared else "jira"
        project = () if shared else ("--project", own_key(place.clone))
        proc = extid_in(place.path, "allocate", task, tool, *project)
        assert proc.returncode == 0, f"allocate refused in {place.path.name}: {proc.stderr}"
        value = proc.stdout.strip().splitlines()[-1]
        how = f"allocate on {place.path.name}:{place.branch()}"
        self.ledger.issue(tool, value, task, place.clone, how)
        ack = Ack(task, tool, value, place.clone)
        self.acks.append(ack)
        place.pending.append(ack)
        return value

    def record(self, place: Place) -> None:
        task = self.fresh(place.clone)
        value = str(100000 + self.seq)  # the tool's own number: unique in the world
        proc = extid_in(place.path, "record", task, RECORD_TOOL, value)
        assert proc.returncode == 0, f"record refused in {place.path.name}: {proc.stderr}"
        ack = Ack(task, RECORD_TOOL, value, place.clone)
        self.acks.append(ack)
        place.pending.append(ack)

    def remove(self, place: Place, pick: int) -> str | None:
        tasks = sorted(place.mappings())
        if not tasks:
            return None
        task = tasks[pick % len(tasks)]
        proc = extid_in(place.path, "remove", task)
        assert proc.returncode == 0, f"remove refused in {place.path.name}: {proc.stderr}"
        removal = Removal(task, None)
        self.removals.append(removal)
        place.removing.append(removal)
        return task

    # --- git, as a user drives it ------------------------------------------------------------

    def commit(self, place: Place, message: str = "work") -> bool:
        git(place.path, "add", "-A")
        if git(place.path, "diff", "--cached", "--quiet", check=False).returncode == 0:
            return False
        if git(place.path, "commit", "-q", "-m", message, check=False).returncode:
            return False  # a hook refused it: the changes stay pending
        sha = self.head(place)
        for ack in place.pending:
            ack.commits.add(sha)
        for removal in place.removing:
            removal.commits.add(sha)
        place.pending, place.removing = [], []
        return True

    def operate(self, place: Place, kind: str, *args: str) -> str:
        """Run a git operation; settle what stops it the way a user would (`extid resolve
        --renumber`, then continue; skip a commit that became empty), give up (abort) what
        resolve cannot settle. Returns done / refused / aborted; renumberings count only for
        an operation that completed (an aborted one undid them)."""
        proc = git_env(place.path, *args)
        said = [proc.stdout + proc.stderr]
        outcome = "aborted"
        for _ in range(12):
            if proc.returncode == 0 and not place.in_progress(kind):
                outcome = "done"
                break
            if place.unmerged():
                res = extid_in(place.path, "resolve", "--renumber")
                said.append(res.stdout + res.stderr)
                if res.returncode != 0 or place.unmerged():
                    break
                proc = git_env(place.path, *_CONTINUE.get(kind, ("status", "-s")))
            elif place.in_progress(kind):
                proc = git_env(place.path, *_SKIP[kind])
            else:
                outcome = "refused" if len(said) == 1 else "aborted"
                break
            said.append(proc.stdout + proc.stderr)
        if outcome == "aborted" and (place.unmerged() or place.in_progress(kind)):
            git(place.path, *_ABORT[kind], check=False)
        if outcome == "done":
            self.ledger.renumbered("\n".join(said), place.clone, " ".join(args))
        key = f"{args[0]}{' --rebase' if '--rebase' in args else ''}: {outcome}"
        self.outcomes[key] = self.outcomes.get(key, 0) + 1
        return outcome

    def pull(self, place: Place, rebase: bool) -> str:
        old = self.head(place)
        if rebase:
            outcome = self.operate(place, "rebase", "pull", "-q", "--rebase", "origin", "main")
        else:
            args = ("pull", "-q", "--no-rebase", "--no-edit", "origin", "main")
            outcome = self.operate(place, "merge", *args)
        if rebase and outcome == "done":
            self.replayed(place, old)
        return outcome

    def replayed(self, place: Place, old: str) -> None:
        """A rebase rewrote the commits that introduced acknowledgements or removals: the new
        tip must hold (or drop) what the old one did."""
        new = self.head(place)
        before = set(git(place.path, "rev-list", old).stdout.split())
        after = set(git(place.path, "rev-list", new).stdout.split())
        for event in [*self.acks, *self.removals]:
            if event.commits & before and not event.commits & after:
                event.commits.add(new)

    def push(self, place: Place) -> bool:
        self.touched.add("origin.git")
        return git(place.path, "push", "-q", "origin", "main", check=False).returncode == 0

    def branches(self, place: Place) -> list[str]:
        out = git(place.path, "for-each-ref", "--format=%(refname:short)", "refs/heads").stdout
        return sorted(b for b in out.split() if b != place.branch())

    def new_branch(self, place: Place) -> str:
        self.seq += 1
        name = f"b{self.seq}"
        git(place.path, "checkout", "-q", "-b", name)
        return name

    def checkout(self, place: Place, pick: int) -> str | None:
        others = self.branches(place)
        if not others:
            return None
        name = others[pick % len(others)]
        return (
            name if git(place.path, "checkout", "-q", name, check=False).returncode == 0 else None
        )

    def merge(self, place: Place, pick: int) -> str | None:
        others = self.branches(place)
        if not others:
            return None
        return self.operate(place, "merge", "merge", "-q", "--no-edit", others[pick % len(others)])

    def _is_merge(self, place: Place, rev: str) -> bool:
        return (
            git(place.path, "rev-parse", "-q", "--verify", f"{rev}^2", check=False).returncode == 0
        )

    def revert(self, place: Place) -> str | None:
        head = self.head(place)
        if head == self.seed:
            return None  # reverting the seed deletes the state files: not this test's subject
        merge = ("-m", "1") if self._is_merge(place, head) else ()
        names = f"{head}:{MAPPING}\n{head}^1:{MAPPING}\n".encode()
        batch = subprocess.run(
            ["git", "cat-file", "--batch"], cwd=place.path, input=names, capture_output=True
        ).stdout
        now, before = (read_mappings(b) for b in _split_batch(batch))
        outcome = self.operate(place, "revert", "revert", "--no-edit", *merge, "HEAD")
        sha = self.head(place)
        if outcome == "done" and sha != head:
            for task, entry in now.items():
                for tool in entry:
                    if tool not in before.get(task, {}):
                        self.removals.append(Removal(task, tool, {sha}))
        return outcome

    def reset(self, place: Place) -> bool:
        if self.head(place) == self.seed:
            return False
        git(place.path, "reset", "-q", "--hard", "HEAD~1")
        place.pending, place.removing = [], []  # discarded on purpose
        return True

    def cherry_pick(self, place: Place, pick: int) -> str | None:
        candidates = [*self.branches(place), "origin/main"]
        rev = candidates[pick % len(candidates)]
        if git(place.path, "merge-base", "--is-ancestor", rev, "HEAD", check=False).returncode == 0:
            return None  # already there: nothing to pick
        merge = ("-m", "1") if self._is_merge(place, rev) else ()
        return self.operate(place, "cherry-pick", "cherry-pick", *merge, rev)

    def stash(self, place: Place, between: bool, shared: bool) -> str | None:
        """Stash the work tree's changes, optionally allocate and commit meanwhile, pop."""
        if not git(place.path, "status", "--porcelain").stdout:
            return None
        if git(place.path, "stash", "-q", check=False).returncode:
            return "refused"
        stash = git(place.path, "rev-parse", "refs/stash").stdout.strip()
        for event in [*place.pending, *place.removing]:
            event.commits.add(stash)  # refs/stash must hold them while they are there
        place.stashed.append((place.pending, place.removing))
        place.pending, place.removing = [], []
        if between:
            self.allocate(place, shared)
            self.commit(place, "while stashed")
        outcome = self.operate(place, "stash", "stash", "pop", "-q")
        if outcome == "done":
            place.pending, place.removing = place.stashed.pop()
            top = git(place.path, "rev-parse", "-q", "--verify", "refs/stash", check=False)
            if top.stdout.strip() == stash:  # a pop that conflicted keeps the entry
                git(place.path, "stash", "drop", "-q")
        return outcome

    def worktree(self, place: Place, shared: bool) -> str:
        """A second work tree of the clone on a new branch at HEAD: allocate there, commit,
        remove the work tree (the branch stays, to be merged or not)."""
        self.seq += 1
        name = f"w{self.seq}"
        path = self.root / f"{place.path.name}-{name}"
        git(place.path, "worktree", "add", "-q", "-b", name, str(path), "HEAD")
        tree = Place(place.clone, path)
        value = self.allocate(tree, shared)
        if not self.commit(tree, "in a worktree"):
            tree.pending.clear()  # removed with the work tree below: the user threw it away
        git(place.path, "worktree", "remove", "--force", str(path))
        return value

    # --- the promise -------------------------------------------------------------------------

    def required(self, reach: frozenset[str]) -> list[Ack]:
        return [
            a
            for a in self.acks
            if a.commits & reach
            and not any(r.covers(a) and r.commits & reach for r in self.removals)
        ]

    def check_kept(self) -> None:
        """No acknowledged mapping is lost (see the module docstring)."""
        snaps = {}
        for repo in [self.root / "origin.git", *(p.path for p in self.places)]:
            if repo.name not in self.touched:
                continue
            snap = snaps[repo] = Snapshot(repo, self.trees)
            for ref, sha in snap.refs.items():
                held = snap.files[sha]
                self._holds(f"{repo.name} {ref}", held, self.required(snap.reach(sha)))
        self.touched.clear()
        for place in self.places:
            if place.path not in snaps:
                continue
            snap = snaps[place.path]
            ref = place.head_ref()
            head = snap.refs.get(ref, ref)
            need = [
                a
                for a in self.required(snap.reach(head)) + place.pending
                if not any(r.covers(a) for r in place.removing)
            ]
            self._holds(f"{place.path.name} work tree", place.mappings(), need)

    def _holds(self, where: str, held: dict[str, Any], need: list[Ack]) -> None:
        for ack in need:
            value = held.get(ack.task, {}).get(ack.tool)
            if not self.ledger.accepts(ack, value):
                raise Lost(
                    f"{where}: {ack.task} {ack.tool} {ack.value} (acknowledged in "
                    f"clone{ack.clone}) is {'gone' if value is None else repr(value)}"
                )
