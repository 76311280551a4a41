"""The pre-commit hooks of `.pre-commit-hooks.yaml` as users run them, with the real `pre-commit`.

* `pre-commit try-repo <this checkout> <hook-id> --all-files` in temp git repos holding the
  example files under `tests/example-files/<hook-id>/{positive,negative}/` (the layout
  check-jsonschema uses). A negative case folder holds `expected.txt`: one line per problem,
  `<file>: <text>`, meaning the hook printed a line starting `<case>/<file>: ` containing `<text>`
  (for extid-post-merge, whose message names no file, just `<text>`).
* try-repo builds a fresh hook environment on every call (it uses a temporary store) and on a
  dirty checkout runs HEAD plus the uncommitted changes to tracked files (a "shadow repo"). The
  other tests therefore use an ordinary `.pre-commit-config.yaml` pointing at the same snapshot
  (`hook_repo`) with one PRE_COMMIT_HOME for the session, so that environment is built once:
  with the network, after which the hooks run under `unshare -n`.
* `pre-commit install --hook-type post-merge` plus a real `git merge` that plants a duplicate
  external ID through git's own line merge (no merge driver, as on GitHub or pre-commit.ci).

Every git and pre-commit process gets HOME, GIT_CONFIG_GLOBAL and PRE_COMMIT_HOME inside the
session's tmp dir, so the developer's configuration and caches are neither read nor written.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from extid import document

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = Path(__file__).resolve().parent / "example-files"
MANIFEST = ROOT / ".pre-commit-hooks.yaml"
HOOK_IDS = ("extid-check", "extid-check-replay", "extid-format", "extid-post-merge")
STATE_DIR = ".claude/state"
MAPPING = "external_id_mapping.json"
COUNTERS = "external_id_counters.json"
TIMEOUT = 300  # a cold hook environment build; normally a few seconds

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
# Tests marked slow build hook environments (try-repo builds one per call, ~8 s each); the module
# takes about a minute on 2 cores.


# --- environment -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    """One isolated HOME / git config / pre-commit cache shared by the whole module."""

    base: Path
    env: dict[str, str]

    def run(
        self, *cmd: str, cwd: Path, offline: Sequence[str] = (), check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run `cmd`; `offline` is a prefix that takes the network away (see `offline`)."""
        result = subprocess.run(
            [*offline, *cmd],
            cwd=cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=TIMEOUT,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{cmd} exited {result.returncode}:\n{result.stdout}")
        return result

    def git(self, cwd: Path, *args: str) -> str:
        return self.run("git", *args, cwd=cwd, check=True).stdout

    def pre_commit(
        self, cwd: Path, *args: str, offline: Sequence[str] = ()
    ) -> subprocess.CompletedProcess[str]:
        return self.run(sys.executable, "-m", "pre_commit", *args, cwd=cwd, offline=offline)


@pytest.fixture(scope="session")
def session(tmp_path_factory: pytest.TempPathFactory) -> Session:
    base = tmp_path_factory.mktemp("precommit")
    home = base / "home"
    home.mkdir()
    (home / ".gitconfig").write_text(
        "[user]\n\tname = extid tests\n\temail = tests@extid.invalid\n"
        "[init]\n\tdefaultBranch = main\n[core]\n\tautocrlf = false\n"
        "[commit]\n\tgpgsign = false\n[advice]\n\tdetachedHead = false\n"
    )
    drop = ("EXTID_", "GIT_", "PRE_COMMIT", "VIRTUAL_ENV", "PYTHONPATH", "COV_CORE")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(
        HOME=str(home),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_CONFIG_HOME=str(home / ".config"),
        GIT_CONFIG_GLOBAL=str(home / ".gitconfig"),
        GIT_CONFIG_NOSYSTEM="1",
        PRE_COMMIT_HOME=str(base / "pre-commit-home"),
        PRE_COMMIT_COLOR="never",
        PATH=os.pathsep.join((str(Path(sys.executable).parent), os.environ.get("PATH", ""))),
    )
    return Session(base, env)


def _is_work_tree(path: Path) -> bool:
    probe = subprocess.run(
        ["git", "-C", str(path), "rev-parse", "--show-toplevel"], capture_output=True, text=True
    )
    return probe.returncode == 0 and Path(probe.stdout.strip()).resolve() == path


@pytest.fixture(scope="session")
def checkout() -> Path:
    """This checkout, which try-repo installs the hooks from."""
    if not _is_work_tree(ROOT):
        pytest.skip("the hook tests need the source as a git checkout")
    return ROOT


@pytest.fixture(scope="session")
def hook_repo(session: Session, checkout: Path) -> tuple[str, str]:
    """(repo, rev) with exactly what try-repo would install: HEAD plus uncommitted changes to
    tracked files. A clean checkout (CI) is used as it is."""
    head = session.git(checkout, "rev-parse", "HEAD").strip()
    diff = subprocess.run(
        ["git", "diff", "--binary", "--no-ext-diff", "--src-prefix=a/", "--dst-prefix=b/", "HEAD"],
        cwd=checkout,
        env=session.env,
        capture_output=True,
        check=True,
    ).stdout
    if not diff:
        return str(checkout), head
    shadow = session.base / "shadow-repo"
    session.git(session.base, "clone", "-q", "--no-checkout", str(checkout), str(shadow))
    session.git(shadow, "checkout", "-q", head, "-b", "_snapshot")
    subprocess.run(
        ["git", "apply", "--index", "--whitespace=nowarn"],
        cwd=shadow,
        env=session.env,
        input=diff,
        check=True,
        capture_output=True,
    )
    session.git(shadow, "commit", "-q", "--no-verify", "-m", "uncommitted changes")
    return str(shadow), session.git(shadow, "rev-parse", "HEAD").strip()


def _hooks_config(repo: str, rev: str) -> str:
    hooks = "".join(f"    -   id: {hook_id}\n" for hook_id in HOOK_IDS)
    return f"repos:\n-   repo: {repo}\n    rev: {rev}\n    hooks:\n{hooks}"


@pytest.fixture(scope="session")
def installed(session: Session, hook_repo: tuple[str, str]) -> str:
    """A config using the hooks; their environment is built (with the network) in the shared
    PRE_COMMIT_HOME the first time, so later runs - offline ones too - find it there."""
    config = _hooks_config(*hook_repo)
    repo = session.base / "install-hooks"
    _new_repo(session, repo)
    (repo / ".pre-commit-config.yaml").write_text(config)
    result = session.pre_commit(repo, "install-hooks")
    assert result.returncode == 0, result.stdout
    return config


@pytest.fixture(scope="session")
def offline(session: Session) -> list[str]:
    """A command prefix that runs a process in a new network namespace (loopback only, down):
    `unshare -n` as root, else `unshare -rn` (an unprivileged user namespace). Skips if neither
    is allowed here."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    probe = [sys.executable, "-c", "import socket; print([n for _, n in socket.if_nameindex()])"]
    refusals = []
    for prefix in (["unshare", "-n"], ["unshare", "-rn"]):
        result = session.run(*probe, cwd=session.base, offline=prefix)
        if result.returncode == 0:
            # Nothing but loopback is left: no process under it can reach a registry.
            assert result.stdout.strip() == "['lo']", result.stdout
            return prefix
        refusals.append(f"{' '.join(prefix)}: {result.stdout.strip()}")
    pytest.skip("no network namespace allowed here (" + "; ".join(refusals) + ")")


# --- temp repositories and example files -------------------------------------------------------


def _new_repo(session: Session, path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    session.git(path, "init", "-q")
    return path


def _copy_examples(session: Session, repo: Path, *rel: str) -> None:
    """Copy example folders into the repo at the same relative paths and stage them
    (`--all-files` means the files git knows)."""
    for part in rel:
        shutil.copytree(EXAMPLES / part, repo / part, dirs_exist_ok=True)
    session.git(repo, "add", "-A")


def _cases(rel: str) -> list[Path]:
    return sorted(p for p in (EXAMPLES / rel).iterdir() if p.is_dir())


def _state_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*.json") if p.name in (MAPPING, COUNTERS))


def _expected(case: Path) -> list[str]:
    lines = (case / "expected.txt").read_text(encoding="utf-8").splitlines()
    assert lines, f"{case}/expected.txt names no problem"
    return lines


def _assert_reported(output: str, case: Path, prefix: str) -> None:
    """Each line of the case's expected.txt appears as a `<case>/<file>: ...` output line."""
    lines = output.splitlines()
    for want in _expected(case):
        file, _, text = want.partition(": ")
        head = f"{prefix}/{case.name}/{file}: "
        hits = [line for line in lines if line.startswith(head) and text in line]
        assert hits, f"no line starting {head!r} containing {text!r} in:\n{output}"


def _snapshot(paths: list[Path]) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in paths}


# --- the manifest ------------------------------------------------------------------------------


def _manifest() -> list[dict[str, object]]:
    hooks = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert isinstance(hooks, list)
    return hooks


def test_manifest_is_valid_for_pre_commit(session: Session) -> None:
    result = session.pre_commit(ROOT, "validate-manifest", str(MANIFEST))
    assert result.returncode == 0, result.stdout


def test_manifest_declares_the_four_hooks_as_specified() -> None:
    hooks = {h["id"]: h for h in _manifest()}
    assert tuple(hooks) == HOOK_IDS
    check, replay, fmt, post = (hooks[i] for i in HOOK_IDS)
    assert (check["entry"], replay["entry"], fmt["entry"], post["entry"]) == (
        "extid check --staged",  # the index, what the commit records (history guards)
        "extid check --staged --replaying",  # the same, at `git rebase --continue`
        "extid format",
        "extid post-merge",
    )
    # pre-commit passes this stage the message file, never a state file
    assert replay["stages"] == ["prepare-commit-msg"]
    assert (replay["always_run"], replay["pass_filenames"]) == (True, False)
    assert all(h["language"] == "python" for h in hooks.values())
    assert all(h["minimum_pre_commit_version"] == "3.2.0" for h in hooks.values())
    assert check["require_serial"] is True
    assert check["stages"] == ["pre-commit", "pre-merge-commit", "pre-push", "manual"]
    assert post["stages"] == ["post-merge", "post-rewrite"]
    assert (post["always_run"], post["pass_filenames"]) == (True, False)
    for hook in (check, fmt):
        files = re.compile(str(hook["files"]))
        for path in (MAPPING, COUNTERS, f"{STATE_DIR}/{MAPPING}", f"a b/{STATE_DIR}/{COUNTERS}"):
            assert files.search(path), path
        for path in (
            f"{MAPPING}.bak",
            f"x{MAPPING}",
            f"{STATE_DIR}/{COUNTERS}.corrupt-1",
            "mapping.json",
            f"{MAPPING}/README",
        ):
            assert not files.search(path), path


def test_example_files_are_what_they_claim() -> None:
    """Positive examples are canonical where format must leave them alone; every negative case
    says what it expects."""
    for path in _state_files(EXAMPLES / "extid-format/positive"):
        assert document.parse(path.read_bytes(), str(path)).canonical, path
    for path in _state_files(EXAMPLES / "extid-format/negative/fixable"):
        assert not document.parse(path.read_bytes(), str(path)).canonical, path
    for rel in (
        "extid-check/negative",
        "extid-format/negative/unparseable",
        "extid-post-merge/negative",
    ):
        for case in _cases(rel):
            assert _expected(case) and _state_files(case), case


# --- try-repo: extid-check ---------------------------------------------------------------------


@pytest.mark.slow
def test_check_hook_passes_valid_files(session: Session, checkout: Path, tmp_path: Path) -> None:
    repo = _new_repo(session, tmp_path / "repo")
    _copy_examples(session, repo, "extid-check/positive")
    before = _snapshot(_state_files(repo))
    result = session.pre_commit(repo, "try-repo", str(checkout), "extid-check", "--all-files")
    assert result.returncode == 0, result.stdout
    assert re.search(r"^extid check\.+Passed$", result.stdout, re.M), result.stdout
    assert _snapshot(list(before)) == before


@pytest.mark.slow
def test_check_hook_reports_every_bad_file(
    session: Session, checkout: Path, tmp_path: Path
) -> None:
    """All bad files in one run: each is reported with its own message (one file failing does
    not hide the next), a valid file beside them stays silent, and nothing is rewritten."""
    repo = _new_repo(session, tmp_path / "repo")
    _copy_examples(session, repo, "extid-check/negative", "extid-check/positive/issue-example")
    before = _snapshot(_state_files(repo))
    result = session.pre_commit(repo, "try-repo", str(checkout), "extid-check", "--all-files")
    assert result.returncode == 1, result.stdout
    assert re.search(r"^extid check\.+Failed$", result.stdout, re.M), result.stdout
    for case in _cases("extid-check/negative"):
        _assert_reported(result.stdout, case, "extid-check/negative")
    assert "extid-check/positive" not in result.stdout
    assert "Traceback" not in result.stdout
    assert _snapshot(list(before)) == before


# --- try-repo: extid-format --------------------------------------------------------------------


@pytest.mark.slow
def test_format_hook_fixes_returns_1_then_passes_and_never_rewrites_unparseable(
    session: Session, checkout: Path, tmp_path: Path
) -> None:
    repo = _new_repo(session, tmp_path / "repo")
    _copy_examples(session, repo, "extid-format/positive", "extid-format/negative")
    fixable = _state_files(repo / "extid-format/negative/fixable")
    untouched = _snapshot(
        _state_files(repo / "extid-format/positive")
        + _state_files(repo / "extid-format/negative/unparseable")
    )
    wanted = {p: document.canonical(document.parse(p.read_bytes(), str(p)).obj) for p in fixable}

    first = session.pre_commit(repo, "try-repo", str(checkout), "extid-format", "--all-files")
    assert first.returncode == 1, first.stdout
    fixing = sorted(line for line in first.stdout.splitlines() if line.startswith("Fixing "))
    assert fixing == sorted(f"Fixing {p.relative_to(repo).as_posix()}" for p in fixable)
    assert {p: p.read_bytes() for p in fixable} == wanted
    assert _snapshot(list(untouched)) == untouched
    for case in _cases("extid-format/negative/unparseable"):
        _assert_reported(first.stdout, case, "extid-format/negative/unparseable")

    # Once the unparseable files are fixed by a human, the hook passes and changes nothing.
    shutil.rmtree(repo / "extid-format/negative/unparseable")
    session.git(repo, "add", "-A")
    second = session.pre_commit(repo, "try-repo", str(checkout), "extid-format", "--all-files")
    assert second.returncode == 0, second.stdout
    assert re.search(r"^extid format\.+Passed$", second.stdout, re.M), second.stdout
    assert {p: p.read_bytes() for p in fixable} == wanted


# --- try-repo: extid-post-merge ----------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    "case",
    [
        EXAMPLES / "extid-post-merge/positive/issue-example",
        EXAMPLES / "extid-post-merge/negative/external-id-held-twice",
    ],
    ids=lambda p: f"{p.parent.name}-{p.name}",
)
def test_post_merge_hook_try_repo(
    session: Session, checkout: Path, tmp_path: Path, case: Path
) -> None:
    repo = _new_repo(session, tmp_path / "repo")
    shutil.copytree(case, repo, dirs_exist_ok=True)
    session.git(repo, "add", "-A")
    result = session.pre_commit(
        repo,
        "try-repo",
        str(checkout),
        "extid-post-merge",
        "--all-files",
        "--hook-stage",
        "post-merge",
    )
    _assert_post_merge_outcome(result, case)


def _assert_post_merge_outcome(result: subprocess.CompletedProcess[str], case: Path) -> None:
    if case.parent.name == "positive":
        assert result.returncode == 0, result.stdout
        assert re.search(r"^extid post-merge\.+Passed$", result.stdout, re.M), result.stdout
        return
    assert result.returncode == 1, result.stdout
    assert re.search(r"^extid post-merge\.+Failed$", result.stdout, re.M), result.stdout
    for text in _expected(case):
        assert text in result.stdout, f"{text!r} not in:\n{result.stdout}"
    assert "Traceback" not in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    "case",
    _cases("extid-post-merge/positive") + _cases("extid-post-merge/negative"),
    ids=lambda p: f"{p.parent.name}-{p.name}",
)
def test_post_merge_hook_every_example(
    session: Session, installed: str, tmp_path: Path, case: Path
) -> None:
    repo = _new_repo(session, tmp_path / "repo")
    shutil.copytree(case, repo, dirs_exist_ok=True)
    (repo / ".pre-commit-config.yaml").write_text(installed)
    session.git(repo, "add", "-A")
    result = session.pre_commit(
        repo, "run", "extid-post-merge", "--all-files", "--hook-stage", "post-merge"
    )
    _assert_post_merge_outcome(result, case)


@pytest.mark.slow
def test_post_merge_hook_state_dir_arg(session: Session, installed: str, tmp_path: Path) -> None:
    """`args: [--state-dir, DIR]` (documented) reaches `extid post-merge`; without it the hook
    looks at .claude/state, which this repository does not have."""
    repo = _new_repo(session, tmp_path / "repo")
    shutil.copytree(
        EXAMPLES / "extid-post-merge/negative/external-id-held-twice" / STATE_DIR,
        repo / "config/ids",
    )
    with_arg = installed.replace(
        "    -   id: extid-post-merge\n",
        "    -   id: extid-post-merge\n        args: [--state-dir, config/ids]\n",
    )
    assert with_arg != installed
    run = ("run", "extid-post-merge", "--all-files", "--hook-stage", "post-merge")
    (repo / ".pre-commit-config.yaml").write_text(installed)
    session.git(repo, "add", "-A")
    assert session.pre_commit(repo, *run).returncode == 0
    (repo / ".pre-commit-config.yaml").write_text(with_arg)
    session.git(repo, "add", "-A")
    result = session.pre_commit(repo, *run)
    assert result.returncode == 1, result.stdout
    assert "config/ids/external_id_mapping.json" in result.stdout
    assert "PROJ-4" in result.stdout


# --- installed as git hooks: a real merge ------------------------------------------------------


def _doc(kind: str, inner: Mapping[str, object]) -> bytes:
    return document.canonical({kind: inner, "updated": "2025-01-08T10:30:00Z", "version": "1.0"})


def _write_state(repo: Path, mappings: Mapping[str, object], jira_next: int) -> None:
    state = repo / STATE_DIR
    state.mkdir(parents=True, exist_ok=True)
    (state / MAPPING).write_bytes(_doc("mappings", mappings))
    (state / COUNTERS).write_bytes(_doc("counters", {"jira": {"PROJ": jira_next}}))


def _commit_all(session: Session, repo: Path, message: str) -> None:
    session.git(repo, "add", "-A")
    session.git(repo, "commit", "-q", "--no-verify", "-m", message)


@pytest.fixture
def colliding_branches(session: Session, installed: str, tmp_path: Path) -> Path:
    return _colliding_branches(session, tmp_path / "repo", installed)


def _colliding_branches(session: Session, path: Path, config: str | None) -> Path:
    """main and `feature` each give the next jira number, PROJ-4, to a different task. The two
    tasks sort to opposite ends of the mapping file and both sides raise the counter alike, so
    git's line merge (no merge driver, as on GitHub) succeeds and plants the duplicate."""
    repo = _new_repo(session, path)
    if config is not None:
        (repo / ".pre-commit-config.yaml").write_text(config)
    (repo / "README").write_text("demo\n")
    base = {
        "TASK-2000": {"jira": "PROJ-1"},
        "TASK-5000": {"jira": "PROJ-2"},
        "TASK-8000": {"jira": "PROJ-3"},
    }
    _write_state(repo, base, 4)
    _commit_all(session, repo, "base")
    session.git(repo, "checkout", "-q", "-b", "docs")
    (repo / "README").write_text("demo\nmore\n")
    _commit_all(session, repo, "docs only")
    session.git(repo, "checkout", "-q", "-b", "feature", "main")
    _write_state(repo, {**base, "TASK-1000": {"jira": "PROJ-4"}}, 5)
    _commit_all(session, repo, "feature: TASK-1000 gets PROJ-4")
    session.git(repo, "checkout", "-q", "main")
    _write_state(repo, {**base, "TASK-9000": {"jira": "PROJ-4"}}, 5)
    _commit_all(session, repo, "main: TASK-9000 gets PROJ-4")
    return repo


def _merge_with_post_merge_hook(
    session: Session, repo: Path, offline: Sequence[str] = ()
) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    assert session.pre_commit(repo, "install", "--hook-type", "post-merge").returncode == 0
    clean = session.run(
        "git", "merge", "--no-ff", "-m", "merge docs", "docs", cwd=repo, offline=offline
    )
    collide = session.run(
        "git", "merge", "--no-ff", "-m", "merge feature", "feature", cwd=repo, offline=offline
    )
    return clean, collide


def _assert_merges(
    repo: Path,
    clean: subprocess.CompletedProcess[str],
    collide: subprocess.CompletedProcess[str],
) -> None:
    # git ignores a post-merge hook's exit code: both merges happen; the hook's report is the
    # user's warning.
    assert clean.returncode == 0, clean.stdout
    assert re.search(r"^extid post-merge\.+Passed$", clean.stdout, re.M), clean.stdout
    assert collide.returncode == 0, collide.stdout
    merged = json.loads((repo / STATE_DIR / MAPPING).read_bytes())["mappings"]
    assert merged["TASK-1000"] == merged["TASK-9000"] == {"jira": "PROJ-4"}  # the plant took
    assert re.search(r"^extid post-merge\.+Failed$", collide.stdout, re.M), collide.stdout
    for text in ("PROJ-4", "TASK-1000", "TASK-9000"):
        assert text in collide.stdout, collide.stdout
    assert "Traceback" not in collide.stdout


@pytest.mark.slow
def test_installed_post_merge_hook_catches_duplicate_from_real_merge(
    session: Session, colliding_branches: Path
) -> None:
    _assert_merges(colliding_branches, *_merge_with_post_merge_hook(session, colliding_branches))


def _rebase_feature_onto_main(session: Session, repo: Path) -> subprocess.CompletedProcess[str]:
    session.git(repo, "checkout", "-q", "feature")
    return session.run("git", "rebase", "main", cwd=repo)


def _assert_duplicate_reported(result: subprocess.CompletedProcess[str], repo: Path) -> None:
    assert result.returncode == 0, result.stdout  # git ignores post-* hooks' exit codes
    merged = json.loads((repo / STATE_DIR / MAPPING).read_bytes())["mappings"]
    assert merged["TASK-1000"] == merged["TASK-9000"] == {"jira": "PROJ-4"}
    assert 'jira PROJ-4 is also held by "TASK-1000"' in result.stdout, result.stdout
    assert "Traceback" not in result.stdout


@pytest.mark.slow
def test_installed_post_rewrite_hook_catches_duplicate_after_rebase(
    session: Session, colliding_branches: Path
) -> None:
    repo = colliding_branches
    assert session.pre_commit(repo, "install", "--hook-type", "post-rewrite").returncode == 0
    rebase = _rebase_feature_onto_main(session, repo)
    assert re.search(r"^extid post-merge\.+Failed$", rebase.stdout, re.M), rebase.stdout
    _assert_duplicate_reported(rebase, repo)


@pytest.mark.slow
def test_installed_post_rewrite_hook_ignores_a_stale_orig_head_after_an_amend(
    session: Session, installed: str, tmp_path: Path
) -> None:
    """pre-commit gives its post-rewrite stage no stdin: after an amend the replaced commit is
    HEAD@{1}, not the ORIG_HEAD a reset left on main (where the counter is higher)."""
    repo = _new_repo(session, tmp_path / "repo")
    (repo / ".pre-commit-config.yaml").write_text(installed)
    _write_state(repo, {}, 1)
    _commit_all(session, repo, "empty registry")
    root = session.git(repo, "rev-parse", "HEAD").strip()
    _write_state(repo, {"TASK-2000": {"jira": "PROJ-1"}, "TASK-5000": {"jira": "PROJ-2"}}, 3)
    _commit_all(session, repo, "main takes PROJ-1..2")
    session.git(repo, "reset", "-q", "HEAD")  # ORIG_HEAD: main, PROJ counter 3
    session.git(repo, "checkout", "-q", "-b", "feature", root)
    (repo / "README").write_text("feature\n")
    _commit_all(session, repo, "feature")
    assert session.pre_commit(repo, "install", "--hook-type", "post-rewrite").returncode == 0
    counters = (repo / STATE_DIR / COUNTERS).read_bytes()
    amend = session.run("git", "commit", "-q", "--amend", "-m", "amended", cwd=repo)
    assert re.search(r"^extid post-merge\.+Passed$", amend.stdout, re.M), amend.stdout
    assert "lowered" not in amend.stdout
    assert (repo / STATE_DIR / COUNTERS).read_bytes() == counters


def _install_plain_hooks(repo: Path) -> None:
    """What `extid install --hooks` puts in place, without the merge driver it also configures
    (the driver would turn the planted collision into a conflict before any hook runs)."""
    for name in ("pre-commit", "post-merge", "post-rewrite"):
        target = repo / ".git" / "hooks" / name
        shutil.copyfile(ROOT / "hooks" / name, target)
        target.chmod(0o755)


def test_plain_git_hooks_catch_bad_state(session: Session, tmp_path: Path) -> None:
    """The shell scripts in hooks/ (for users without pre-commit), run by git itself."""
    repo = _colliding_branches(session, tmp_path / "repo", None)
    _install_plain_hooks(repo)
    head = session.git(repo, "rev-parse", "HEAD")
    state = repo / STATE_DIR / MAPPING
    good = state.read_bytes()
    state.write_bytes(good.replace(b'"PROJ-1"', b'"proj-1"'))
    commit = session.run("git", "commit", "-qam", "bad jira key", cwd=repo)
    assert commit.returncode == 1, commit.stdout
    assert '$.mappings.TASK-2000.jira: "proj-1" is not a jira ID' in commit.stdout
    assert session.git(repo, "rev-parse", "HEAD") == head
    state.write_bytes(good)

    merge = session.run("git", "merge", "--no-ff", "-m", "merge feature", "feature", cwd=repo)
    _assert_duplicate_reported(merge, repo)
    session.git(repo, "reset", "-q", "--hard", head.strip())
    _assert_duplicate_reported(_rebase_feature_onto_main(session, repo), repo)


@pytest.mark.slow
def test_check_hook_refuses_the_merge_commit_and_the_push(
    session: Session, colliding_branches: Path, tmp_path: Path
) -> None:
    """extid-check at pre-merge-commit stops the colliding merge before its commit exists; at
    pre-push it stops a bad commit (made with --no-verify) from leaving the clone."""
    repo = colliding_branches
    for hook_type in ("pre-merge-commit", "pre-push"):
        assert session.pre_commit(repo, "install", "--hook-type", hook_type).returncode == 0
    head = session.git(repo, "rev-parse", "HEAD")
    merge = session.run("git", "merge", "--no-ff", "-m", "merge feature", "feature", cwd=repo)
    assert merge.returncode != 0, merge.stdout
    assert re.search(r"^extid check\.+Failed$", merge.stdout, re.M), merge.stdout
    assert 'jira PROJ-4 is also held by "TASK-1000"' in merge.stdout
    assert session.git(repo, "rev-parse", "HEAD") == head  # no merge commit was made

    session.git(repo, "commit", "-q", "--no-verify", "-m", "merge feature anyway")
    remote = tmp_path / "remote.git"
    session.git(tmp_path, "init", "-q", "--bare", str(remote))
    push = session.run("git", "push", str(remote), "main", cwd=repo)
    assert push.returncode != 0, push.stdout
    assert 'jira PROJ-4 is also held by "TASK-1000"' in push.stdout
    assert not session.git(remote, "for-each-ref")  # nothing arrived


@pytest.mark.slow
def test_check_replay_hook_refuses_a_rebase_continue_that_lost_a_mapping(
    session: Session, installed: str, tmp_path: Path
) -> None:
    """git's sequencer commits `git rebase --continue` without the pre-commit hook, but runs
    prepare-commit-msg: extid-check-replay refuses the hand resolution that kept upstream's
    side, and the rebase stays stopped until the files keep both."""
    repo = _new_repo(session, tmp_path / "repo")
    (repo / ".pre-commit-config.yaml").write_text(installed)
    base = {"TASK-2000": {"jira": "PROJ-1"}, "TASK-5000": {"jira": "PROJ-2"}}
    _write_state(repo, base, 3)
    _commit_all(session, repo, "base")
    session.git(repo, "checkout", "-q", "-b", "feature")
    _write_state(repo, {**base, "TASK-3000": {"jira": "PROJ-4"}}, 5)  # beside main's: a conflict
    # The pick changes more than the state files: a pick that the resolution leaves empty is
    # dropped without a commit (no hook runs; post-rewrite names the loss after the rebase).
    (repo / "README").write_text("TASK-3000\n")
    _commit_all(session, repo, "feature: TASK-3000")
    session.git(repo, "checkout", "-q", "main")
    _write_state(repo, {**base, "TASK-4000": {"jira": "PROJ-3"}}, 4)
    _commit_all(session, repo, "main: TASK-4000")
    assert session.pre_commit(repo, "install", "--hook-type", "prepare-commit-msg").returncode == 0
    session.git(repo, "checkout", "-q", "feature")
    assert session.run("git", "rebase", "main", cwd=repo).returncode != 0
    session.git(repo, "checkout", "--ours", "--", STATE_DIR)  # upstream's files: TASK-3000 gone
    session.git(repo, "add", "-A")
    head = session.git(repo, "rev-parse", "HEAD")
    refused = session.run("git", "-c", "core.editor=true", "rebase", "--continue", cwd=repo)
    assert refused.returncode != 0, refused.stdout
    assert re.search(r"^extid check \(rebase --continue\)\.+Failed$", refused.stdout, re.M)
    assert "jira PROJ-4 of TASK-3000 on REBASE_HEAD is missing" in refused.stdout
    assert "counter 4 is lower than REBASE_HEAD's 5" in refused.stdout
    assert session.git(repo, "rev-parse", "HEAD") == head
    assert (repo / ".git" / "rebase-merge").is_dir()
    _write_state(
        repo, {**base, "TASK-3000": {"jira": "PROJ-4"}, "TASK-4000": {"jira": "PROJ-3"}}, 5
    )
    session.git(repo, "add", "-A")
    done = session.run("git", "-c", "core.editor=true", "rebase", "--continue", cwd=repo)
    assert done.returncode == 0, done.stdout
    assert re.search(r"^extid check \(rebase --continue\)\.+Passed$", done.stdout, re.M)


@pytest.mark.slow
def test_check_replay_hook_refuses_a_no_verify_commit_of_a_lossy_merge(
    session: Session, installed: str, tmp_path: Path
) -> None:
    """`git commit --no-verify` skips extid-check, not prepare-commit-msg: while MERGE_HEAD
    exists extid-check-replay holds the merge being concluded to the history guards."""
    repo = _new_repo(session, tmp_path / "repo")
    (repo / ".pre-commit-config.yaml").write_text(installed)
    base = {"TASK-2000": {"jira": "PROJ-1"}}
    _write_state(repo, base, 1)
    _commit_all(session, repo, "base")
    session.git(repo, "checkout", "-q", "-b", "feature")
    _write_state(repo, {**base, "TASK-3000": {"jira": "PROJ-3"}}, 3)
    _commit_all(session, repo, "feature: TASK-3000")
    session.git(repo, "checkout", "-q", "main")
    _write_state(repo, {**base, "TASK-4000": {"jira": "PROJ-2"}}, 2)
    _commit_all(session, repo, "main: TASK-4000")
    assert session.pre_commit(repo, "install", "--hook-type", "prepare-commit-msg").returncode == 0
    assert session.run("git", "merge", "feature", cwd=repo).returncode != 0
    session.git(repo, "checkout", "--ours", "--", STATE_DIR)  # main's files: TASK-3000 gone
    session.git(repo, "add", "-A")
    head = session.git(repo, "rev-parse", "HEAD")
    refused = session.run("git", "commit", "--no-verify", "--no-edit", cwd=repo)
    assert refused.returncode != 0, refused.stdout
    assert re.search(r"^extid check \(rebase --continue\)\.+Failed$", refused.stdout, re.M)
    assert "jira PROJ-3 of TASK-3000 on MERGE_HEAD is missing" in refused.stdout
    assert session.git(repo, "rev-parse", "HEAD") == head
    assert (repo / ".git" / "MERGE_HEAD").exists()


@pytest.mark.slow
def test_check_hook_refuses_a_merge_s_ours_that_drops_their_mappings(
    session: Session, installed: str, tmp_path: Path
) -> None:
    """`git merge -s ours` leaves no conflict, so only pre-merge-commit runs: extid-check there
    refuses it and names the way back (no conflict to make again with `checkout -m`)."""
    repo = _colliding_branches(session, tmp_path / "repo", installed)
    assert session.pre_commit(repo, "install", "--hook-type", "pre-merge-commit").returncode == 0
    head = session.git(repo, "rev-parse", "HEAD")
    merge = session.run("git", "merge", "--no-edit", "-s", "ours", "feature", cwd=repo)
    assert merge.returncode != 0, merge.stdout
    assert "jira PROJ-4 of TASK-1000 on feature is missing" in merge.stdout
    assert "`git merge --abort`, then merge again without them" in merge.stdout
    assert session.git(repo, "rev-parse", "HEAD") == head


# --- no network --------------------------------------------------------------------------------


@pytest.mark.slow
def test_check_and_format_hooks_run_without_network(
    session: Session, offline: list[str], installed: str, tmp_path: Path
) -> None:
    repo = _new_repo(session, tmp_path / "repo")
    (repo / ".pre-commit-config.yaml").write_text(installed)
    _copy_examples(session, repo, "extid-check/positive", "extid-format/negative/fixable")

    check = session.pre_commit(repo, "run", "extid-check", "--all-files", offline=offline)
    assert check.returncode == 0, check.stdout
    assert re.search(r"^extid check\.+Passed$", check.stdout, re.M), check.stdout
    fmt = session.pre_commit(repo, "run", "extid-format", "--all-files", offline=offline)
    assert fmt.returncode == 1, fmt.stdout
    assert "Fixing extid-format/negative/fixable/" in fmt.stdout
    again = session.pre_commit(repo, "run", "extid-format", "--all-files", offline=offline)
    assert again.returncode == 0, again.stdout

    _copy_examples(session, repo, "extid-check/negative")
    bad = session.pre_commit(repo, "run", "extid-check", "--all-files", offline=offline)
    assert bad.returncode == 1, bad.stdout
    for case in _cases("extid-check/negative"):
        _assert_reported(bad.stdout, case, "extid-check/negative")


@pytest.mark.slow
def test_post_merge_hook_runs_without_network(
    session: Session, offline: list[str], colliding_branches: Path
) -> None:
    clean, collide = _merge_with_post_merge_hook(session, colliding_branches, offline=offline)
    _assert_merges(colliding_branches, clean, collide)


# --- documentation -----------------------------------------------------------------------------


def _yaml_blocks(markdown: str) -> Iterator[object]:
    for block in re.findall(r"^```ya?ml\n(.*?)^```", markdown, re.M | re.S):
        try:
            yield yaml.safe_load(block)
        except yaml.YAMLError:
            continue


def _documented_hooks(markdown: str) -> dict[str, str]:
    """hook id -> rev, from copy-paste `.pre-commit-config.yaml` snippets that use a remote repo."""
    found: dict[str, str] = {}
    for block in _yaml_blocks(markdown):
        repos = block.get("repos") if isinstance(block, dict) else None
        for entry in repos or ():
            if not isinstance(entry, dict) or entry.get("repo") in (None, "local", "meta"):
                continue
            for hook in entry.get("hooks") or ():
                found[str(hook.get("id"))] = str(entry.get("rev"))
    return found


@pytest.mark.parametrize("doc", ["README.md", "docs/hooks.md"])
def test_docs_give_a_copy_paste_snippet_for_every_hook(doc: str) -> None:
    path = ROOT / doc
    assert path.is_file(), f"{doc} is missing"
    documented = _documented_hooks(path.read_text(encoding="utf-8"))
    manifest_ids = [str(h["id"]) for h in _manifest()]
    missing = [hook_id for hook_id in manifest_ids if hook_id not in documented]
    assert not missing, f"{doc} has no .pre-commit-config.yaml snippet for {missing}"
    # A placeholder the text explains (`pre-commit autoupdate` fills it; see
    # test_readme_precommit.py), never a made-up tag such as the former `v0.1.0`.
    assert {documented[i] for i in manifest_ids} == {"TAG_OR_COMMIT"}


def _snippets(markdown: str) -> list[dict[str, object]]:
    """The documented configs that use our hooks from a remote repo."""
    return [
        block
        for block in _yaml_blocks(markdown)
        if isinstance(block, dict)
        and any(
            isinstance(r, dict) and r.get("repo") not in ("local", "meta")
            for r in block.get("repos") or ()
        )
    ]


@pytest.mark.slow
@pytest.mark.parametrize("doc", ["README.md", "docs/hooks.md"])
def test_documented_snippets_work_as_pasted(
    session: Session, installed: str, hook_repo: tuple[str, str], tmp_path: Path, doc: str
) -> None:
    """Each snippet, with only its repo URL and rev pointed at this checkout: `pre-commit
    install --install-hooks`, then every hook with the documented args passes on a valid state
    (an argument a command does not take would fail it with a usage error)."""
    snippets = _snippets((ROOT / doc).read_text(encoding="utf-8"))
    assert snippets
    for i, snippet in enumerate(snippets):
        for entry in snippet["repos"]:  # type: ignore[attr-defined]
            if entry.get("repo") not in ("local", "meta"):
                entry["repo"], entry["rev"] = hook_repo
        repo = _new_repo(session, tmp_path / f"snippet-{i}")
        shutil.copytree(
            EXAMPLES / "extid-post-merge/positive/issue-example", repo, dirs_exist_ok=True
        )
        (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump(snippet))
        session.git(repo, "add", "-A")
        install = session.pre_commit(repo, "install", "--install-hooks")
        assert install.returncode == 0, install.stdout
        for stage in ("pre-commit", "pre-push", "post-merge", "post-rewrite"):
            result = session.pre_commit(repo, "run", "--all-files", "--hook-stage", stage)
            assert result.returncode == 0, f"{doc} snippet {i}, stage {stage}:\n{result.stdout}"
            assert "Failed" not in result.stdout


def test_dogfood_config_is_valid_and_uses_our_own_hooks(session: Session) -> None:
    config_path = ROOT / ".pre-commit-config.yaml"
    result = session.pre_commit(ROOT, "validate-config", str(config_path))
    assert result.returncode == 0, result.stdout
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    local = [h for r in config["repos"] if r["repo"] == "local" for h in r["hooks"]]
    assert {h["id"]: h["entry"] for h in local if h["id"] in HOOK_IDS} == {
        "extid-check": "extid check --staged",
        "extid-check-replay": "extid check --staged --replaying",
        "extid-format": "extid format",
        "extid-post-merge": "extid post-merge",
    }
    hook_ids = {h["id"] for r in config["repos"] for h in r["hooks"]}
    assert {"ruff", "ruff-format", "mypy"} <= hook_ids


def test_dogfood_local_hooks_run(session: Session, tmp_path: Path) -> None:
    """The `repo: local` part of the dogfood config, run for real (language: system needs no
    environment and no network; the remote ruff/mypy repos would need a clone)."""
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    local = [r for r in config["repos"] if r["repo"] == "local"]
    repo = _new_repo(session, tmp_path / "repo")
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump({"repos": local}))
    _copy_examples(session, repo, "extid-check/negative", "extid-check/positive")
    result = session.pre_commit(repo, "run", "extid-check", "--all-files")
    assert result.returncode == 1, result.stdout
    for case in _cases("extid-check/negative"):
        _assert_reported(result.stdout, case, "extid-check/negative")
    assert "extid-check/positive" not in result.stdout


# --- the staged versions, against HEAD ---------------------------------------------------------


@pytest.mark.slow
def test_check_hook_holds_the_staged_files_to_head(
    session: Session, installed: str, tmp_path: Path
) -> None:
    """pre-commit stashes unstaged changes, so the hook sees the index; `extid check --staged`
    reads the index itself: a lowered counter staged behind a sound work tree, and a staged
    deletion (no file for pre-commit to pass), are both refused."""
    repo = _new_repo(session, tmp_path / "repo")
    (repo / ".pre-commit-config.yaml").write_text(installed)
    _write_state(repo, {"TASK-1000": {"jira": "PROJ-1"}, "TASK-1001": {"jira": "PROJ-2"}}, 3)
    _commit_all(session, repo, "state")
    assert session.pre_commit(repo, "install").returncode == 0
    counters = repo / STATE_DIR / COUNTERS
    sound = counters.read_bytes()
    _write_state(repo, {"TASK-1000": {"jira": "PROJ-1"}}, 2)  # PROJ-2 would be issued again
    session.git(repo, "add", "-A")
    counters.write_bytes(sound)  # the work tree looks fine; the commit would record the index
    result = session.run("git", "commit", "-q", "-m", "lowered", cwd=repo)
    assert result.returncode != 0, result.stdout
    assert "counter 2 is lower than HEAD's 3" in result.stdout
    assert f"git checkout HEAD -- {STATE_DIR}/{COUNTERS}" in result.stdout

    session.git(repo, "reset", "-q", "--hard")
    session.git(repo, "rm", "-q", "--cached", f"{STATE_DIR}/{MAPPING}")
    result = session.run("git", "commit", "-q", "-m", "untrack", cwd=repo)
    assert result.returncode != 0, result.stdout
    assert f"{STATE_DIR}/{MAPPING}: staged deletion of a state file" in result.stdout
    assert session.git(repo, "log", "--format=%s").split() == ["state"]
