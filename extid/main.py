"""The `extid` command line: argparse and dispatch only.

Each subcommand lives in `extid/commands/<name>.py` with two functions,
`add_arguments(parser)` and `run(args) -> int`. Only the module of the command being run is
imported, so a hook invocation pays for what it uses and nothing else (start-up is most of the
cost of a hook on a small file).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from . import __version__
from .errors import ExtidError

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


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_selected(args_list))
    args = parser.parse_args(args_list)
    try:
        return int(_module(args.command).run(args))
    except ExtidError as e:
        print(f"extid: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
