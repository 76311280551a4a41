"""`extid doctor [--json]`: report each piece of this clone's set-up, with the fix for what is
missing.

Exit 1 if anything is missing. The case it exists for: a `merge=extid` attribute without a
configured driver makes git fall back to its line merge without a word. The checks only record
findings on a `_Report`; it is printed once at the end, as text or (`--json`) as JSON in
check-jsonschema's shape: `{"status", "successes": [...], "errors": [{"message", "fix"}]}`.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json",
        dest="as_json",
        action="store_true",
        help="the findings as JSON (status, successes, errors with their fix)",
    )


class _Report:
    """The findings, in order: (what, None) where it is in place, (what, fix) where not."""

    def __init__(self) -> None:
        self.findings: list[tuple[str, str | None]] = []

    @property
    def missing(self) -> int:
        return sum(fix is not None for _, fix in self.findings)

    def ok(self, what: str) -> None:
        self.findings.append((what, None))

    def bad(self, what: str, fix: str) -> None:
        self.findings.append((what, fix))

    def print_text(self) -> None:
        for what, fix in self.findings:
            print(f"ok       {what}" if fix is None else f"MISSING  {what}\n         fix: {fix}")
        print("all set" if not self.missing else f"{self.missing} thing(s) to fix")

    def print_json(self) -> None:
        from ..report import print_json, status

        print_json(
            {
                "status": status(bool(self.missing)),
                "successes": [what for what, fix in self.findings if fix is None],
                "errors": [{"message": what, "fix": fix} for what, fix in self.findings if fix],
            }
        )


def run(state_dir: str | None, as_json: bool = False) -> int:
    report = _Report()
    _diagnose(report, state_dir)
    if as_json:
        report.print_json()
    else:
        report.print_text()
    return 1 if report.missing else 0


def _diagnose(report: _Report, state_dir: str | None) -> None:
    from .. import git
    from ..adopt import doctor_findings
    from ..store import resolve_state_dir
    from .install import state_patterns

    try:
        top = git.toplevel()
    except git.GitError as e:  # git cannot open the repository: that is the finding
        report.bad(str(e), "fix what git says, then run extid doctor again")
        return
    if top is None:
        report.bad("a git work tree", "run extid inside your repository's clone")
        return
    directory = resolve_state_dir(state_dir)
    rels = state_patterns(top, state_dir)
    _driver(report, top, rels)
    _hooks(report, top)
    _ignored(report, top, directory)
    for what, fix in doctor_findings(top, directory):  # tracked though ignored
        report.bad(what, fix)
    _files(report, top, directory)


def _driver(report: _Report, top: Path, rels: list[str]) -> None:
    from .. import git

    driver = git.config_get("merge.extid.driver", top)
    attrs = git.check_attr(top, "merge", rels)
    if driver and "merge-driver" in driver:
        report.ok(f"merge driver configured: {driver}")
    elif any(v == "extid" for v in attrs.values()):
        report.bad(
            "merge.extid.driver: .gitattributes says merge=extid but no driver is configured, "
            "so git silently falls back to a line merge of the state files",
            "extid install",
        )
    else:
        report.bad("merge driver (merge.extid.driver)", "extid install")
    try:
        program = shlex.split(driver)[0] if driver and driver.strip() else "extid"
    except ValueError:  # unbalanced quotes: git's shell would fail on it too
        program = driver.split()[0] if driver else "extid"
    if shutil.which(program) is None:
        report.bad(
            "`extid` on PATH (git runs the driver and hooks by that name)",
            "install extid where git can find it (pip install extid)",
        )
    for rel in rels:
        if attrs.get(rel) == "extid":
            report.ok(f"{rel}: merge=extid")
        else:
            now = attrs.get(rel, "unspecified")
            report.bad(f"{rel}: merge=extid attribute (now: {now})", "extid install")


def _hooks(report: _Report, top: Path) -> None:
    from .. import git
    from .install import HOOK_MARKER, HOOK_NAMES

    directory = git.hooks_dir(top)
    for name in HOOK_NAMES:
        path = directory / name
        text = path.read_text("utf-8", "replace") if path.is_file() else ""
        if (HOOK_MARKER in text or "extid" in text) and os.access(path, os.X_OK):
            report.ok(f"hook {path}")
        else:
            report.bad(f"hook {path} running extid", "extid install --hooks")


def _ignored(report: _Report, top: Path, state_dir: Path) -> None:
    from .. import git
    from ..document import MAPPING_FILE
    from ..store import LOCK_FILE

    samples = {
        "lock file": LOCK_FILE,
        "backups": MAPPING_FILE + ".bak",
        "quarantined corrupt files": MAPPING_FILE + ".corrupt-20260101T000000Z",
        "temp files": f".{MAPPING_FILE}.tmp-0123456789abcdef",
    }
    try:
        rel_dir = git.rel_to(top, state_dir)
    except git.GitError:
        report.bad(f"state directory {state_dir} inside the repository", "set --state-dir")
        return
    for what, name in samples.items():
        rel = f"{rel_dir}/{name}" if rel_dir not in ("", ".") else name
        if git.is_ignored(top, rel):
            report.ok(f"{what} ignored by git")
        else:
            report.bad(f"{what} ignored by git ({rel})", "extid init (writes the state .gitignore)")


def _files(report: _Report, top: Path, state_dir: Path) -> None:
    from .. import git
    from ..document import COUNTERS_FILE, MAPPING_FILE
    from ..validate import check_paths

    paths = [str(state_dir / n) for n in (MAPPING_FILE, COUNTERS_FILE)]
    existing = [p for p in paths if os.path.lexists(p)]
    unmerged = set(git.unmerged_paths(top))
    for path in existing:
        if git.rel_to(top, path) in unmerged:
            report.bad(f"{path}: unresolved merge conflict", "extid resolve")
    problems = check_paths(existing)
    for problem in problems:
        report.bad(str(problem), "extid check / extid repair")
    if existing and not problems:
        report.ok(f"state files valid ({', '.join(os.path.basename(p) for p in existing)})")
    elif not existing:
        report.ok(f"no state files yet in {state_dir} (extid init creates them)")
