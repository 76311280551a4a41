"""`extid demo [--dir DIR]`: the newcomer's first run, as a story told with real commands.

In a throwaway git repository: allocate and record IDs across the four tools, look them up,
then let two branches allocate concurrently and merge them through the merge driver, and
finally cause a real collision (a teammate's clone takes the same next Jira number) and
resolve it.
Every step is a real `extid` or `git` process, printed as the user would type it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ..errors import ExtidError

STATE = ".claude/state"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dir",
        dest="directory",
        metavar="DIR",
        help="where to build the demo repository (must be empty)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary repository")


def run(state_dir: str | None, directory: str | None = None, keep: bool = False) -> int:
    del state_dir  # the demo makes its own repository
    if directory:
        root = Path(directory)
        if root.exists() and any(root.iterdir()):
            raise ExtidError(f"{root}: demo directory is not empty")
        root.mkdir(parents=True, exist_ok=True)
        return Demo(root).run()
    with tempfile.TemporaryDirectory(prefix="extid-demo-") as tmp:
        (Path(tmp) / "repo").mkdir()
        code = Demo(Path(tmp) / "repo").run()
        if not keep:
            print("(The repository was temporary and is removed; --keep or --dir DIR keeps it.)")
        if keep:
            kept = Path(tempfile.mkdtemp(prefix="extid-demo-kept-"))
            shutil.copytree(Path(tmp) / "repo", kept / "repo", symlinks=True)
            print(f"\nThe demo repository is kept at {kept / 'repo'}")
        return code


class Demo:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = _clean_env(root)

    # -- plumbing ------------------------------------------------------------------------------

    def sh(
        self, *argv: str, show: bool = True, ok: Sequence[int] = (0,), cwd: Path | None = None
    ) -> str:
        """Run a command in the demo repo (or in `cwd`, a teammate's clone), echo it like a
        terminal, and return its stdout."""
        cmd = [sys.executable, "-m", "extid", *argv[1:]] if argv[0] == "extid" else list(argv)
        if show:
            prompt = "$" if cwd is None else f"{cwd.name}$"
            print(f"{prompt} {' '.join(_quote(a) for a in argv)}")
        proc = subprocess.run(
            cmd, cwd=cwd or self.root, env=self.env, capture_output=True, text=True
        )
        output = (proc.stdout + proc.stderr).rstrip()
        if show and output:
            print(_indent(output))
        if proc.returncode not in ok:
            raise ExtidError(f"demo step failed: {' '.join(argv)} (exit {proc.returncode})")
        return proc.stdout

    def heading(self, text: str) -> None:
        print(f"\n== {text} ==")

    def show_file(self, name: str) -> None:
        print(f"$ cat {STATE}/{name}")
        print(_indent((self.root / STATE / name).read_text(encoding="utf-8").rstrip()))

    # -- the story -----------------------------------------------------------------------------

    def run(self) -> int:
        self.setup()
        self.one_machine()
        self.concurrent_branches()
        self.collision()
        self.heading("Done")
        print(f"Valid registry, every external ID held by exactly one task ({self.root}).")
        return 0

    def setup(self) -> None:
        self.heading(
            "A repository whose tasks are mirrored into Jira, Azure DevOps, Linear, GitHub"
        )
        self.sh("git", "init", "-q", "-b", "main")
        self.sh("git", "config", "user.name", "Demo", show=False)
        self.sh("git", "config", "user.email", "demo@extid.invalid", show=False)
        self.sh("extid", "init")
        self.sh("extid", "install")

    def one_machine(self) -> None:
        self.heading("Allocate and record IDs (locked, atomic, durable writes)")
        self.sh("extid", "allocate", "TASK-E01-b2c4", "jira", "--project", "PROJ")
        self.sh("extid", "allocate", "TASK-E01-b2c4", "azure_devops")
        self.sh("extid", "allocate", "TASK-E01-b2c4", "linear", "--project", "TEAM")
        self.sh("extid", "record", "TASK-E01-b2c4", "github", "234")
        self.sh("extid", "allocate", "TASK-E01-b2c4", "jira", "--project", "PROJ")
        print("  (the same task asked again: its existing ID, never a second one)")
        self.sh("extid", "allocate", "TASK-a3f2", "jira", "--project", "PROJ")
        self.sh("extid", "lookup", "TASK-E01-b2c4")
        self.sh("extid", "reverse", "github", "#234")
        self.show_file("external_id_mapping.json")
        self.show_file("external_id_counters.json")
        self.sh("git", "add", "-A")
        self.sh("git", "commit", "-q", "-m", "Track tasks in the external tools")

    def concurrent_branches(self) -> None:
        self.heading("Two branches allocate at the same time, then merge through the driver")
        self.sh("git", "checkout", "-q", "-b", "feature-a")
        self.sh("extid", "allocate", "TASK-c0de", "jira", "--project", "PROJ")
        self.sh("extid", "allocate", "TASK-c0de", "azure_devops")
        self.sh("git", "commit", "-q", "-am", "feature-a: track TASK-c0de")
        self.sh("git", "checkout", "-q", "main")
        self.sh("extid", "allocate", "TASK-E02-f00d", "linear", "--project", "TEAM")
        self.sh("extid", "record", "TASK-E02-f00d", "github", "240")
        self.sh("git", "commit", "-q", "-am", "main: track TASK-E02-f00d")
        print("  (git's line merge would conflict here: both sides touched adjacent lines)")
        self.sh("git", "merge", "--no-edit", "feature-a")
        self.sh("extid", "check")
        self.sh("extid", "list")

    def collision(self) -> None:
        self.heading("A real collision: a teammate's clone takes the next Jira number too")
        print("  (one clone never issues a number twice, whatever git does: its ledger in")
        print("   .git/extid remembers; two clones meet only when their work is merged)")
        with tempfile.TemporaryDirectory(prefix="extid-demo-teammate-") as tmp:
            mate = Path(tmp) / "teammate"
            self.sh("git", "clone", "-q", str(self.root), str(mate))
            for key, value in (("user.name", "Teammate"), ("user.email", "mate@extid.invalid")):
                self.sh("git", "config", key, value, show=False, cwd=mate)
            self.sh("extid", "install", cwd=mate)
            self.sh("extid", "allocate", "TASK-beef", "jira", "--project", "PROJ", cwd=mate)
            self.sh("git", "commit", "-q", "-am", "feature-b: track TASK-beef", cwd=mate)
            self.sh("git", "push", "-q", "origin", "HEAD:feature-b", cwd=mate)
        self.sh("extid", "allocate", "TASK-cafe", "jira", "--project", "PROJ")
        self.sh("git", "commit", "-q", "-am", "main: track TASK-cafe")
        print("  (the driver never merges two tasks onto one ID silently: it stops the merge)")
        self.sh("git", "merge", "--no-edit", "feature-b", ok=(0, 1))
        self.sh("extid", "check", ok=(0, 1))
        print("  (renumbering is opt-in: an ID that exists in the real tool must not change)")
        self.sh("extid", "resolve", "--renumber")
        self.sh("git", "commit", "-q", "--no-edit")
        self.sh("extid", "lookup", "TASK-beef")
        self.sh("extid", "lookup", "TASK-cafe")
        self.sh("extid", "check")


def _clean_env(root: Path) -> dict[str, str]:
    """The user's environment, minus anything that would point git or extid elsewhere; the
    interpreter's directory goes first on PATH so git finds the `extid` the demo runs."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("EXTID_STATE_DIR", "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE")
    }
    env["PATH"] = os.pathsep.join((str(Path(sys.executable).parent), env.get("PATH", "")))
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    env["GIT_CONFIG_GLOBAL"] = str(root / ".git" / "demo-global-config")  # leave ~ alone
    return env


def _quote(arg: str) -> str:
    return arg if arg and all(c.isalnum() or c in "-_./#=:" for c in arg) else repr(arg)


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())
