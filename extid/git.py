"""The only module that talks to git, always through the git binary.

Every question (where the work tree is, config, attributes, the hooks directory, index stages,
blobs at a revision, `git add`, `git merge-file`) is one short git process: git's own answer in
every set-up it supports, and nothing heavy to import on a hook's path.

A repository whose git directory lives elsewhere (`GIT_DIR`, `GIT_WORK_TREE`, `GIT_INDEX_FILE` in
the environment, as git itself sets them for hooks) works too: git reads relative values against
the directory it starts in, and extid runs git from the top level, so they are made absolute
against the current directory first.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import ExtidError

MERGE_DRIVER_NAME = "extid semantic merge of external ID state"
MERGE_DRIVER_COMMAND = "extid merge-driver %O %A %B %P"
#: Refs git leaves while replaying someone else's commit: the "theirs" of the running operation.
OPERATION_HEADS = ("MERGE_HEAD", "CHERRY_PICK_HEAD", "REBASE_HEAD", "REVERT_HEAD")


class GitError(ExtidError):
    """git failed or is not available."""


#: The path variables git reads relative to the directory it starts in.
PATH_VARIABLES = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_COMMON_DIR",
)


def absolute_git_env() -> dict[str, str]:
    """The git path variables set to relative paths, made absolute against the current
    directory (where the user, or git running a hook, meant them); empty in the usual case."""
    return {
        name: os.path.abspath(value)
        for name in PATH_VARIABLES
        if (value := os.environ.get(name)) and not os.path.isabs(value)
    }


def run_git(
    args: Sequence[str],
    cwd: str | Path | None = None,
    *,
    check: bool = True,
    input: bytes | None = None,
    untranslated: bool = False,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """git `args` in `cwd`; `untranslated`: git's messages in English, for a caller that must
    tell one error from another; `env` (the whole environment) replaces the usual one, whose
    relative git path variables are made absolute; `timeout`: seconds before git is killed
    (then exit 124, saying so on stderr)."""
    if env is None:
        fixed = absolute_git_env() | ({"LC_ALL": "C", "LANGUAGE": "C"} if untranslated else {})
        env = {**os.environ, **fixed} if fixed else None
    try:
        proc = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, input=input, env=env, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        said = f"git {_command(args)}: no answer within {timeout:g}s".encode()
        proc = subprocess.CompletedProcess(["git", *args], 124, b"", said)
    except OSError as e:
        raise GitError(f"cannot run git: {e.strerror or e}") from None
    if check and proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"git {args[0]}: {message[-1] if message else f'exit {proc.returncode}'}")
    return proc


def _command(args: Sequence[str]) -> str:
    """The git command `args` run, past global options (`--git-dir DIR`, `-c KEY=VALUE`)."""
    rest = list(args)
    while rest and rest[0].startswith("-"):
        rest = rest[2:] if rest[0] in ("--git-dir", "-c", "-C") else rest[1:]
    return rest[0] if rest else "git"


def _out(proc: subprocess.CompletedProcess[bytes]) -> str:
    return proc.stdout.decode("utf-8", "surrogateescape").rstrip("\n")


# --- repository ----------------------------------------------------------------------------


class NoWorkTreeError(GitError):
    """Inside a git repository that has no work tree (bare, or the git directory itself)."""


def toplevel(cwd: str | Path | None = None) -> Path | None:
    """The root of the work tree containing `cwd` as git sees it (a subdirectory, `GIT_DIR` and
    `GIT_WORK_TREE`, linked worktrees, submodules, `core.worktree`), or None outside any
    repository and in one without a work tree (a bare repository). A repository git refuses to
    open (a `.git` file naming nothing, dubious ownership, `GIT_DIR` naming nothing) raises
    GitError with git's reason: taking it for "no repository" would start a second registry."""
    return _where(cwd)[1]


def require_work_tree(cwd: str | Path | None = None) -> Path | None:
    """`toplevel`, but a repository without a work tree is an error (there is no place for
    state files in it): None only outside any repository."""
    in_repository, top = _where(cwd)
    if in_repository and top is None:
        here = Path(os.path.abspath(cwd or os.curdir))
        raise NoWorkTreeError(
            f"{here}: a git repository without a work tree (bare, or inside its git directory);"
            " run extid in a clone's work tree"
        )
    return top


def require_toplevel(cwd: str | Path | None = None) -> Path:
    top = require_work_tree(cwd)
    if top is None:
        raise GitError(f"{Path(cwd or '.').resolve()}: not inside a git work tree")
    return top


def _where(cwd: str | Path | None) -> tuple[bool, Path | None]:
    """(inside a repository, its work tree root or None). One process: git prints whether the
    repository is bare as soon as it has found one, then fails on `--show-toplevel` if there is
    no work tree; with no output at all, only git's own "not a git repository (or any parent
    ...)" means outside any repository."""
    args = ["rev-parse", "--is-bare-repository", "--show-toplevel"]
    proc = run_git(args, cwd, check=False, untranslated=True)
    lines = _out(proc).split("\n") if proc.stdout.strip() else []
    if proc.returncode == 0 and len(lines) == 2 and lines[1]:
        return True, Path(lines[1])
    if lines:
        return True, None
    message = proc.stderr.decode("utf-8", "replace").strip()
    if "not a git repository (or any" in message:
        return False, None
    here = Path(os.path.abspath(cwd or os.curdir))
    reason = message.splitlines()[0].removeprefix("fatal: ") if message else "no answer"
    raise GitError(f"{here}: git cannot open the repository here ({reason}); fix that first")


def rel_to(top: Path, path: str | Path) -> str:
    """`path` relative to the work tree root, with / separators; refuses paths outside it."""
    absolute = Path(os.path.abspath(path))
    try:
        rel = absolute.relative_to(top.resolve())
    except ValueError:
        try:
            rel = absolute.resolve().relative_to(top.resolve())
        except ValueError:
            raise GitError(f"{path}: outside the repository {top}") from None
    return rel.as_posix()


def rev_exists(top: Path, rev: str) -> bool:
    return run_git(["rev-parse", "-q", "--verify", rev], top, check=False).returncode == 0


def show_blob(top: Path, spec: str) -> bytes | None:
    """Contents of `rev:path` (or `:N:path`) via the git binary, None if it does not exist."""
    return read_objects(top, [spec])[0]


def read_blobs(top: Path, specs: Sequence[str]) -> dict[str, bytes | None]:
    """`read_objects` keyed by spec: what a hook reads from the index and from HEAD at once."""
    return dict(zip(specs, read_objects(top, specs), strict=True))


def index_stages(top: Path, rel_paths: Sequence[str]) -> dict[str, dict[int, str]]:
    """The index entries of `rel_paths`: path -> {stage: blob id} (stage 0 when merged, 1-3
    while unmerged); a path absent from the index is absent here."""
    out = run_git(["ls-files", "-s", "-z", "--", *rel_paths], top).stdout
    found: dict[str, dict[int, str]] = {}
    for record in out.split(b"\0"):
        if record:
            info, path = record.split(b"\t", 1)
            _mode, blob, stage = info.split()
            found.setdefault(path.decode("utf-8", "surrogateescape"), {})[int(stage)] = (
                blob.decode()
            )
    return found


def merging_head() -> tuple[str, str] | None:
    """(commit, name) of the head `git merge` is merging, from the `GITHEAD_<commit>=<name>` it
    exports to merge drivers and hooks (pre-merge-commit runs before MERGE_HEAD is written)."""
    for name, value in sorted(os.environ.items()):
        commit = name[len("GITHEAD_") :]
        if name.startswith("GITHEAD_") and len(commit) in (40, 64):
            return commit, value or commit
    return None


def rev_parse(top: Path, rev: str) -> str | None:
    """The commit id `rev` names, or None."""
    proc = run_git(["rev-parse", "-q", "--verify", f"{rev}^{{commit}}"], top, check=False)
    return _out(proc) if proc.returncode == 0 else None


def merge_base(top: Path, a: str, b: str) -> str | None:
    proc = run_git(["merge-base", a, b], top, check=False)
    return _out(proc) if proc.returncode == 0 else None


def parents(top: Path, rev: str) -> list[str]:
    return _out(run_git(["rev-list", "--parents", "-n", "1", rev], top)).split()[1:]


def is_ancestor(top: Path, ancestor: str, rev: str) -> bool:
    proc = run_git(["merge-base", "--is-ancestor", ancestor, rev], top, check=False)
    return proc.returncode == 0


def head_blob(top: Path, rel_path: str) -> bytes | None:
    """`HEAD:<path>` (None when there is no HEAD or no such file)."""
    return show_blob(top, f"HEAD:{rel_path}")


def read_objects(top: Path, specs: Sequence[str]) -> list[bytes | None]:
    """The contents of each object (`rev:path`, an object name), None where it does not exist:
    one `git cat-file --batch` for all of them."""
    if not specs:
        return []
    if any("\n" in spec for spec in specs):  # one request per line: refuse, never misread
        raise GitError("an object name with a newline; refused")
    request = "".join(spec + "\n" for spec in specs).encode("utf-8", "surrogateescape")
    out = run_git(["cat-file", "--batch"], top, input=request).stdout
    found: list[bytes | None] = []
    at = 0
    for _ in specs:
        end = out.index(b"\n", at)
        header = out[at:end].split(b" ")  # "<name> <type> <size>", else "<spec> missing"
        at = end + 1
        if len(header) != 3 or not header[2].isdigit():
            found.append(None)
            continue
        size = int(header[2])
        found.append(out[at : at + size] if header[1] == b"blob" else None)
        at += size + 1
    return found


# --- unmerged index entries ----------------------------------------------------------------


@dataclass(frozen=True)
class Stages:
    """The three versions git keeps of a conflicted path (None: absent at that stage)."""

    path: str  # relative to the top level
    base: bytes | None
    ours: bytes | None
    theirs: bytes | None


def _unmerged_entries(top: Path) -> dict[str, dict[int, str]]:
    """path -> {stage: object name} of the unmerged index entries (`git ls-files -u`), in the
    index's order; from `GIT_INDEX_FILE` when set, as git reads it."""
    out = run_git(["ls-files", "-u", "-z"], top).stdout
    entries: dict[str, dict[int, str]] = {}
    for record in out.split(b"\0"):
        if record:
            info, path = record.split(b"\t", 1)
            _mode, name, stage = info.decode("ascii").split(" ")
            entries.setdefault(path.decode("utf-8", "surrogateescape"), {})[int(stage)] = name
    return entries


def unmerged_paths(top: Path) -> list[str]:
    """Paths (relative to the top level) with unmerged index entries (`git ls-files -u`)."""
    return list(_unmerged_entries(top))


def read_stages(top: Path, rel_path: str) -> Stages:
    """Stages :1: :2: :3: of an unmerged path (`git ls-files -u`, then `git cat-file`)."""
    stages = _unmerged_entries(top).get(rel_path)
    if not stages:
        raise GitError(f"{rel_path}: not conflicted in the index (nothing to resolve)")
    blobs = dict(zip(stages, read_objects(top, list(stages.values())), strict=True))
    return Stages(rel_path, blobs.get(1), blobs.get(2), blobs.get(3))


def add(top: Path, rel_paths: Sequence[str]) -> None:
    if rel_paths:
        run_git(["add", "--", *rel_paths], top)


# --- config --------------------------------------------------------------------------------


def config_get(key: str, cwd: str | Path | None = None, scope: str | None = None) -> str | None:
    """A config value (scope: None for the effective value, or "local"/"global")."""
    args = ["config", *([f"--{scope}"] if scope else []), "--get", key]
    proc = run_git(args, cwd, check=False)
    return _out(proc) if proc.returncode == 0 else None


def config_set(key: str, value: str, cwd: str | Path | None = None, scope: str = "local") -> bool:
    """Set `key` unless it already has `value`; returns whether it changed anything."""
    if config_get(key, cwd, scope) == value:
        return False
    run_git(["config", f"--{scope}", key, value], cwd)
    return True


def config_unset(key: str, cwd: str | Path | None = None, scope: str = "local") -> bool:
    """Remove `key` from `scope`; returns whether it was there."""
    return run_git(["config", f"--{scope}", "--unset-all", key], cwd, check=False).returncode == 0


def check_attr(top: Path, attr: str, rel_paths: Sequence[str]) -> dict[str, str]:
    """The value of a gitattribute for each path ('unspecified' when unset)."""
    out = run_git(["check-attr", "-z", attr, "--", *rel_paths], top).stdout.split(b"\0")
    values: dict[str, str] = {}
    for i in range(0, len(out) - 2, 3):
        values[out[i].decode("utf-8", "surrogateescape")] = out[i + 2].decode()
    return values


def tracked_files(top: Path, rel_dir: str) -> list[str]:
    """Paths (relative to the top level) that git's index holds under `rel_dir`."""
    spec = "." if rel_dir in ("", ".") else rel_dir
    out = run_git(["ls-files", "-z", "--full-name", "--", f":(literal){spec}"], top).stdout
    return sorted({p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p})


def untrack(top: Path, rel_paths: Sequence[str]) -> None:
    """`git rm --cached`: git stops tracking the paths; the files stay in the work tree."""
    literal = [f":(literal){path}" for path in rel_paths]
    run_git(["rm", "--cached", "--force", "--quiet", "--ignore-unmatch", "--", *literal], top)


def is_ignored(top: Path, rel_path: str) -> bool:
    return (
        run_git(["check-ignore", "-q", "--no-index", "--", rel_path], top, check=False).returncode
        == 0
    )


def hooks_dir(top: Path) -> Path:
    """Where git runs hooks from: core.hooksPath (relative to the top level) or .git/hooks."""
    configured = config_get("core.hooksPath", top)
    if configured:
        path = Path(os.path.expanduser(configured))
        return path if path.is_absolute() else top / path
    return Path(os.path.abspath(top / _out(run_git(["rev-parse", "--git-path", "hooks"], top))))


# --- merges --------------------------------------------------------------------------------


def line_merge(ours: bytes, base: bytes, theirs: bytes) -> tuple[bytes, bool]:
    """git's own line merge with standard markers (labels ours/base/theirs): the fallback for a
    side extid cannot parse; and whether it holds both sides whole instead. Never one side
    alone, never an unmarked mix: where git's merge is clean (our side equal to the base gives
    their bytes alone) or git cannot run, both sides are marked whole."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="extid-merge-") as tmp:
        names = []
        for label, data in (("ours", ours), ("base", base), ("theirs", theirs)):
            name = os.path.join(tmp, label)
            with open(name, "wb") as f:
                f.write(data)
            names.append(name)
        try:
            proc = subprocess.run(
                ["git", "merge-file", "-p", "-L", "ours", "-L", "base", "-L", "theirs", *names],
                capture_output=True,
            )
        except OSError:
            proc = None
    if proc is not None and proc.returncode > 0 and proc.stdout:  # > 0: conflicts marked
        return proc.stdout, False
    nl = b"" if not ours or ours.endswith(b"\n") else b"\n"
    nt = b"" if not theirs or theirs.endswith(b"\n") else b"\n"
    whole = b"<<<<<<< ours\n" + ours + nl + b"=======\n" + theirs + nt + b">>>>>>> theirs\n"
    return whole, True


def operation_blobs(top: Path, rel_path: str) -> list[bytes]:
    """`rel_path` at HEAD, at the head being merged/picked/rebased, and at every branch,
    remote-tracking branch and the stash: what a renumbering must stay above (their side's
    counters included: git names their commit to a driver only during `git merge`, so the refs
    it may come from stand in for it in cherry-pick, rebase, stash and merge-tree). Two git calls;
    only a collision to renumber pays for them."""
    revs = ["HEAD", *OPERATION_HEADS, *ref_tips(top, "refs/heads", "refs/remotes", "refs/stash")]
    merging = merging_head()
    if merging is not None:
        revs.append(merging[0])
    return _blobs_at(top, rel_path, revs)


def published_blobs(top: Path, rel_path: str) -> list[bytes]:
    """`rel_path` on every remote-tracking branch: what is published already, one `git cat-file
    --batch` call. `git pull` updates the remote-tracking branch before it merges, so the side
    being pulled is among them. The head a local `git merge` names is not: taking it as
    published would let the direction of a merge decide the keeper, and a rebase of the same
    branches (which names no head) keep the other task."""
    return _blobs_at(top, rel_path, ref_tips(top, "refs/remotes"))


def ref_tips(top: Path, *patterns: str) -> list[str]:
    """The commits of the refs under `patterns` (`git for-each-ref`)."""
    refs = run_git(["for-each-ref", "--format=%(objectname)", *patterns], top, check=False)
    return _out(refs).split()


def _blobs_at(top: Path, rel_path: str, revs: list[str]) -> list[bytes]:
    blobs = read_blobs(top, [f"{rev}:{rel_path}" for rev in dict.fromkeys(revs)])
    return [data for data in blobs.values() if data is not None]
