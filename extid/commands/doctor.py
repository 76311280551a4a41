"""`extid doctor [--json]`: report each piece of this clone's set-up, with the fix for what is
missing.

Exit 1 if anything is missing. The case it exists for: a `merge=extid` attribute without a
configured driver makes git fall back to its line merge without a word. Each check returns
`Finding`s; `report` prints them as text or (`--json`) as JSON in check-jsonschema's shape:
`{"status", "successes": [...], "errors": [{"message", "fix"}]}`.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

TYPE_CHECKING = False  # not typing's (see check.py)
if TYPE_CHECKING:
    from ..errors import Problem


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json",
        dest="as_json",
        action="store_true",
        help="the findings as JSON (status, successes, errors with their fix)",
    )


@dataclass(frozen=True)
class Finding:
    """One piece of the set-up: in place (`ok`), or missing with the command that fixes it."""

    ok: bool
    what: str
    fix: str = ""
    note: bool = False  # worth knowing, not a failure (a remote that did not answer)


def run(state_dir: str | None, as_json: bool = False) -> int:
    found = findings(state_dir)
    if as_json:
        report_json(found)
    else:
        report(found)
    return 1 if any(not f.ok for f in found) else 0


def findings(state_dir: str | None) -> list[Finding]:
    """Every check of this clone, in the order they are printed."""
    from .. import git
    from ..adopt import doctor_findings
    from ..errors import ExtidError
    from .install import state_directory, state_paths

    try:
        top = git.toplevel()
    except git.GitError as e:  # git cannot open the repository: that is the finding
        return [Finding(False, str(e), "fix what git says, then run extid doctor again")]
    if top is None:
        return [Finding(False, "a git work tree", "run extid inside your repository's clone")]
    try:
        directory = state_directory(top, state_dir)
    except ExtidError as e:  # a file where the state directory belongs: nothing else to look at
        return [*hook_findings(top), Finding(False, str(e))]
    return [
        *driver_findings(top, state_paths(top, state_dir)),
        *hook_findings(top),
        *ignored_findings(top, directory),
        # tracked though ignored: a lock or .bak committed before the .gitignore was there
        *(Finding(False, what, fix) for what, fix in doctor_findings(top, directory)),
        *file_findings(top, directory),
        *ledger_findings(top),
    ]


def report(found: list[Finding]) -> None:
    for finding in found:
        if finding.note:
            print(f"note     {finding.what}")
        elif finding.ok:
            print(f"ok       {finding.what}")
        else:
            print(f"MISSING  {finding.what}")
            if finding.fix:  # else the line names its fix itself
                print(f"         fix: {finding.fix}")
    missing = sum(not f.ok for f in found)
    print("all set" if not missing else f"{missing} thing(s) to fix")


def report_json(found: list[Finding]) -> None:
    from ..report import print_json, status

    print_json(
        {
            "status": status(any(not f.ok for f in found)),
            "successes": [f.what for f in found if f.ok],
            "errors": [{"message": f.what, "fix": f.fix} for f in found if not f.ok],
        }
    )


def driver_findings(top: Path, rels: list[str]) -> list[Finding]:
    from .. import git
    from ..setup import driver as setup

    value = git.config_get(setup.DRIVER_KEY, top)
    attrs = git.check_attr(top, "merge", rels)
    found = []
    if not value or "merge-driver" not in value:
        if any(v == "extid" for v in attrs.values()):
            what = (
                "merge.extid.driver: .gitattributes says merge=extid but no driver is "
                "configured, so git silently falls back to a line merge of the state files"
            )
        else:
            what = "merge driver (merge.extid.driver)"
        found.append(Finding(False, what, "extid install"))
    elif (program := setup.runnable(value)) is None:
        found.append(
            Finding(
                False,
                "merge driver can run: neither the extid it names nor `extid` on PATH exists "
                "(merges of the state files end as conflicts)",
                "extid install, run by the extid you use",
            )
        )
    elif setup.SCRIPT_MARK not in value:
        found.append(
            Finding(
                False,
                f"merge driver ends as a conflict when extid cannot run (now: {value!r}: "
                "without extid on PATH, a merge keeps one side silently)",
                "extid install",
            )
        )
    else:
        found.append(Finding(True, f"merge driver configured, runs {program}"))
    for rel in rels:
        now = attrs.get(rel, "unspecified")
        if now == "extid":
            found.append(Finding(True, f"{rel}: merge=extid"))
        else:
            found.append(
                Finding(False, f"{rel}: merge=extid attribute (now: {now})", "extid install")
            )
    return found


def hook_findings(top: Path) -> list[Finding]:
    """extid's own hooks, or pre-commit's scripts where its config runs the extid hooks."""
    from .. import git
    from ..setup import precommit
    from ..setup.hooks import (
        HOOK_MARKER,
        HOOK_NAMES,
        PRE_COMMIT_LEGACY,
        is_extid_hook,
        read_hook,
        runs_extid,
    )

    directory = git.hooks_dir(top)
    found = []
    for name in HOOK_NAMES:
        path = directory / name
        runs = os.access(path, os.X_OK)
        hook_id = precommit.covering(top, name)
        if precommit.generated_by_pre_commit(path):
            legacy = path.with_name(name + PRE_COMMIT_LEGACY)
            if hook_id is not None or is_extid_hook(legacy):
                by = hook_id or f"extid's hook, as {legacy.name}"
                found.append(Finding(runs, f"hook {path} (pre-commit runs {by})", "chmod +x"))
            else:
                wanted = precommit.COVERING_IDS[name][0]
                found.append(
                    Finding(
                        False,
                        f"hook {path} running extid (pre-commit's script runs no extid hook)",
                        f"add `id: {wanted}` to {precommit.CONFIG} (see docs/hooks.md)",
                    )
                )
        elif runs and HOOK_MARKER in (text := read_hook(path)) and not runs_extid(text):
            found.append(
                Finding(
                    False,
                    f"hook {path} can run extid (the extid that installed it is gone, and none "
                    "is on PATH: every commit would fail)",
                    "extid install, run by the extid you use",
                )
            )
        elif runs and "extid" in read_hook(path):  # extid's, or a hand-written one calling it
            found.append(Finding(True, f"hook {path}"))
        elif hook_id is not None:
            found.append(
                Finding(
                    False,
                    f"hook {path} ({precommit.CONFIG} runs {hook_id}, but pre-commit is not "
                    "installed for it)",
                    f"pre-commit install --hook-type {name}",
                )
            )
        else:
            found.append(Finding(False, f"hook {path} running extid", "extid install"))
    return found


def ignored_findings(top: Path, state_dir: Path) -> list[Finding]:
    from .. import git
    from ..document import MAPPING_FILE
    from ..setup.attributes import tracked_path
    from ..store import LOCK_FILE

    samples = {
        "lock file": LOCK_FILE,
        "backups": MAPPING_FILE + ".bak",
        "quarantined corrupt files": MAPPING_FILE + ".corrupt-20260101T000000Z",
        "temp files": f".{MAPPING_FILE}.tmp-0123456789abcdef",
    }
    found = []
    for what, name in samples.items():
        rel = tracked_path(top, state_dir / name)
        if git.is_ignored(top, rel):
            found.append(Finding(True, f"{what} ignored by git"))
        else:
            fix = "extid install (writes the state .gitignore)"
            found.append(Finding(False, f"{what} ignored by git ({rel})", fix))
    return found


def _finding(problem: Problem, state_dir: Path) -> Finding:
    """The problem and its fix apart: an unreadable file's fix is its ParseError's, except
    where `extid repair` would refuse (the restore would lose something: a truncated file whose
    .bak is broken too), which `--dry-run` shows; a broken rule's line names the extid command
    already; the rest is edited by hand (`extid repair` settles only what its message says)."""
    from ..errors import EDIT_FIX, REPAIR_FIX, ParseProblem

    if isinstance(problem, ParseProblem):
        fix = problem.fix
        if fix == REPAIR_FIX and _repair_would_lose(state_dir):
            fix = (
                "run `extid repair --dry-run`: restoring it would lose what it lists; put the "
                "file right by hand, or `extid repair --accept-loss`"
            )
        return Finding(False, problem.problem(), fix)
    return Finding(False, str(problem), "" if "`extid " in problem.message else EDIT_FIX)


def _repair_would_lose(state_dir: Path) -> bool:
    from ..store import Store
    from ..store.maintenance import repair_would_lose

    return repair_would_lose(Store(state_dir))


def file_findings(top: Path, state_dir: Path) -> list[Finding]:
    from .. import git
    from ..checkfiles import check_paths
    from ..document import COUNTERS_FILE, MAPPING_FILE
    from ..setup.attributes import tracked_path

    paths = [str(state_dir / n) for n in (MAPPING_FILE, COUNTERS_FILE)]
    existing = [p for p in paths if os.path.lexists(p)]
    unmerged = set(git.unmerged_paths(top))
    found = [
        Finding(False, f"{path}: unresolved merge conflict", "extid resolve")
        for path in existing
        if tracked_path(top, Path(path)) in unmerged
    ]
    problems = check_paths(existing)
    found += [_finding(problem, state_dir) for problem in problems]
    if existing and not problems:
        names = ", ".join(os.path.basename(p) for p in existing)
        found.append(Finding(True, f"state files valid ({names})"))
    elif not existing:
        found.append(Finding(True, f"no state files yet in {state_dir} (extid init creates them)"))
    return found


def ledger_findings(top: Path) -> list[Finding]:
    """The remote ledger: on, off by choice, or off beside a remote that holds one (this clone
    then issues numbers other clones reserved there). Asks the remotes (`ledger.probe`, which
    writes nothing); a clone without remotes costs one `git remote`."""
    from .. import git
    from ..ledger import probe

    names = probe.remotes(top)
    if not names:
        return []
    remote = git.config_get("extid.remote", top)
    if remote:
        return [Finding(True, f"remote ledger on ({remote})")]
    if probe.opted_out(top):
        return [Finding(True, "remote ledger off (extid install --no-remote)")]
    found = []
    for answer in probe.probe(top, names):
        if answer.has is None:
            what = f"remote ledger: could not check {answer.remote} ({answer.why})"
            found.append(Finding(True, what, note=True))
        elif answer.has:
            what = (
                f"remote ledger: {answer.remote} has one, but this clone allocates from its own "
                "files alone (it can issue numbers other clones reserved there)"
            )
            found.append(Finding(False, what, f"extid install --remote {answer.remote}"))
    return found
