"""The `extid` command line: argparse and dispatch only.

Each subcommand lives in `extid/commands/<name>.py` with two functions,
`add_arguments(parser)` and `run(args) -> int`. Only the module of the command being run is
imported, so a hook invocation pays for what it uses and nothing else (start-up is most of the
cost of a hook on a small file).
"""

from __future__ import annotations

import importlib
import sys
from types import SimpleNamespace

from . import __version__
from .errors import ExtidError

# Not `from typing import TYPE_CHECKING`: importing typing is ~3 ms of every start (mypy treats
# any constant of this name the same way).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from types import ModuleType

#: name -> one-line help. The module is `extid.commands.<name with - as _>`.
COMMANDS: dict[str, str] = {
    "init": "create the state directory, its .gitignore and empty state files",
    "allocate": "give a task the next external ID of a tool (or its existing one)",
    "record": "store an external ID that the tool itself assigned",
    "remove": "forget a task's external IDs (all tools, or one)",
    "lookup": "show the external IDs of a task",
    "reverse": "find the task that holds an external ID",
    "list": "list all mappings",
    "new-id": "print a fresh internal hash ID not in the registry",
    "check": "validate state files (strict JSON, schema, semantics)",
    "format": "rewrite state files in canonical form",
    "migrate": "rewrite the state files at the newest format version",
    "repair": "recover corrupt state files from .bak or git",
    "demo": "a guided tour in a throwaway repository",
    "merge-driver": "git merge driver: three-way merge of a state file (%%O %%A %%B %%P)",
    "resolve": "merge state files that git left conflicted",
    "install": "configure the merge driver, .gitattributes and hooks in this clone",
    "doctor": "report what is missing from this clone's set-up",
    "post-merge": "check the state after a merge or rebase (run by the hooks)",
}


def _selected(argv: Sequence[str]) -> str | None:
    """The subcommand named on the command line, skipping global options."""
    skip_next = False
    for arg in argv:
        if skip_next:
            skip_next = False
        elif arg == "--state-dir":
            skip_next = True
        elif not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


def build_parser(selected: str | None) -> argparse.ArgumentParser:
    import argparse  # deferred: see _hook_args

    parser = argparse.ArgumentParser(
        prog="extid",
        description="Keep internal <-> external task IDs safe inside a git repository.",
    )
    parser.add_argument("--version", action="version", version=f"extid {__version__}")
    parser.add_argument(
        "--state-dir",
        metavar="DIR",
        help="state directory (default: $EXTID_STATE_DIR, else <git toplevel>/.claude/state)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    # With a command named, only its parser is built (the listing is only for --help/errors):
    # building all of them is a third of a hook's own start-up.
    chosen = {selected: COMMANDS[selected]} if selected is not None else COMMANDS
    for name, help_ in chosen.items():
        cmd_parser = sub.add_parser(name, help=help_, description=help_)
        # Also accepted after the command: pre-commit appends a hook's `args:` to its entry.
        cmd_parser.add_argument(
            "--state-dir", metavar="DIR", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )
        if name == selected:
            _module(name).add_arguments(cmd_parser)
    return parser


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"extid.commands.{name.replace('-', '_')}")


def _hook_args(argv: list[str]) -> SimpleNamespace | None:
    """The parsed arguments of the command lines the hooks run, without argparse; None for
    any other command line.

    Importing argparse and building a parser is ~6 ms, a third of what a hook on a small file
    may cost. Only these exact shapes are taken here, with the attributes argparse would set
    (tests/test_startup_args.py compares the two): `check FILE...`, `format [--check]
    FILE...` and `--version`; anything with another option, or a file name that starts with
    `-`, goes to argparse.
    """
    if argv == ["--version"]:
        print(f"extid {__version__}")
        raise SystemExit(0)  # as argparse's version action does
    if not argv or argv[0] not in ("check", "format"):
        return None
    check = argv[0] == "format" and argv[1:2] == ["--check"]
    files = argv[2:] if check else argv[1:]
    if any(name.startswith("-") for name in files):
        return None
    if argv[0] == "check":
        return SimpleNamespace(state_dir=None, command="check", files=files)
    return SimpleNamespace(state_dir=None, command="format", files=files, check=check)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    hook_args = _hook_args(args_list)
    args: argparse.Namespace | SimpleNamespace = (
        hook_args
        if hook_args is not None
        else build_parser(_selected(args_list)).parse_args(args_list)
    )
    try:
        return int(_module(args.command).run(args))
    except ExtidError as e:
        print(f"extid: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
