"""The `extid` command line: argparse, dispatch to the chosen command, and exit codes.

Each subcommand lives in `extid/commands/<name>.py` with `add_arguments(parser)` (its options,
beside the code that uses them) and a typed `run(state_dir, ...) -> int` whose parameter names
are the parser's destinations, so the call is `run(**vars(namespace))`. Only the module of the
command being run is imported: a hook pays for what it uses and nothing else (start-up is most
of the cost of a hook on a small file).

Exit codes: 0 success, 1 a problem found or a user error (one line, `extid: error: ...`), 2 a
usage error (argparse), 3 a bug in extid (details in a log file, see error_handler.py), 130
interrupted, 141 the reader of stdout went away (`extid list | head -1`).
"""

from __future__ import annotations

import importlib
import sys

from . import __version__
from .errors import ExtidError

# Not `from typing import TYPE_CHECKING`: importing typing is ~3 ms of every start (mypy treats
# any constant of this name the same way).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from types import ModuleType

#: Exit codes other than a command's own 0/1 (argparse exits 2 for usage errors itself).
BUG, INTERRUPTED, BROKEN_PIPE = 3, 130, 141

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
    "install": "set this clone up: merge driver, .gitattributes, state .gitignore, hooks",
    "uninstall": "undo `extid install` (driver config, attribute lines, extid's hooks)",
    "ledger": "show the remote ledger's marks, this clone's leases and the files' lag",
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


def _state_dir_arg(value: str) -> str:
    """`--state-dir ''` is refused: an empty value silently meaning the default would write
    where the user did not ask (an unset variable in `--state-dir "$DIR"`)."""
    if not value:
        import argparse

        raise argparse.ArgumentTypeError("must not be empty (omit it for the default)")
    return value


def build_parser(
    selected: str | None, commands: dict[str, argparse.ArgumentParser] | None = None
) -> argparse.ArgumentParser:
    """The parser for `selected` (all commands for None); the command parsers are also put
    in `commands` when given."""
    import argparse  # deferred: see _hook_args

    parser = argparse.ArgumentParser(
        prog="extid",
        description="Keep internal <-> external task IDs safe inside a git repository.",
    )
    parser.add_argument("--version", action="version", version=f"extid {__version__}")
    parser.add_argument(
        "--state-dir",
        metavar="DIR",
        type=_state_dir_arg,
        help="state directory (default: $EXTID_STATE_DIR, else <git toplevel>/.claude/state)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    # With a command named, only its parser is built (the listing is only for --help/errors):
    # building all of them is a third of a hook's own start-up.
    chosen = {selected: COMMANDS[selected]} if selected is not None else COMMANDS
    for name, help_ in chosen.items():
        # `help` is %-formatted by argparse, `description` is printed as it is.
        cmd_parser = sub.add_parser(name, help=help_, description=help_.replace("%%", "%"))
        # Also accepted after the command: pre-commit appends a hook's `args:` to its entry.
        cmd_parser.add_argument(
            "--state-dir",
            metavar="DIR",
            type=_state_dir_arg,
            default=argparse.SUPPRESS,
            help=argparse.SUPPRESS,
        )
        if commands is not None:
            commands[name] = cmd_parser
        if name == selected:
            _module(name).add_arguments(cmd_parser)
    return parser


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"extid.commands.{name.replace('-', '_')}")


def _hook_args(argv: list[str]) -> tuple[str, dict[str, object]] | None:
    """The command and parameters of the command lines the hooks run, without argparse; None
    for any other command line.

    Importing argparse, building the parser and parsing would add ~7 ms of CPU to a hook run
    on a tiny file (measured: 24M more instructions, +22% of the whole run; a trick is kept
    where a user can feel it, >= ~5 ms on a hook run). Only these exact shapes are taken
    here, with the parameters argparse would give (tests/test_startup_args.py compares the
    two): `check [--staged] FILE...`, `check --staged --replaying|--history-only`, `format
    [--check] FILE...` and `--version`; anything with another option, or a file name that
    starts with `-`, goes to argparse.
    """
    if argv == ["--version"]:
        print(f"extid {__version__}")
        raise SystemExit(0)  # as argparse's version action does
    if not argv or argv[0] not in ("check", "format"):
        return None
    flag = argv[1:2] == (["--check"] if argv[0] == "format" else ["--staged"])
    # the prepare-commit-msg and pre-merge-commit hooks: `check --staged --replaying` runs
    # before every commit message
    only = argv[2:] if flag and argv[0] == "check" and len(argv) == 3 else []
    if only not in ([], ["--replaying"], ["--history-only"]):
        return None
    files = [] if only else argv[2:] if flag else argv[1:]
    if any(name.startswith("-") for name in files):
        return None
    if argv[0] == "check":
        return "check", {
            "state_dir": None,
            "files": files,
            "staged": flag,
            "against": None,
            "replaying": only == ["--replaying"],
            "history_only": only == ["--history-only"],
            "as_json": False,
        }
    return "format", {"state_dir": None, "files": files, "check": flag}


def parse(argv: list[str]) -> tuple[str, dict[str, object]]:
    """The command named by `argv` and the keyword arguments of its `run`."""
    hook = _hook_args(argv)
    if hook is not None:
        return hook
    commands: dict[str, argparse.ArgumentParser] = {}
    namespace, extra = build_parser(_selected(argv), commands).parse_known_args(argv)
    params = vars(namespace)
    command = params.pop("command")
    if extra:  # the command's usage, not the top level's: the command is what was misused
        commands[command].error(f"unrecognized arguments: {' '.join(extra)}")
    return command, params


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    command, params = parse(args_list)
    try:
        rc = int(_module(command).run(**params))
        sys.stdout.flush()  # here, where a full disk behind a redirection can be reported
        return rc
    except ExtidError as e:
        print(f"extid: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return BROKEN_PIPE
    except OSError as e:
        import errno

        if e.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            from .error_handler import report_bug

            return report_bug(e, args_list, BUG)
        # State files are written through the store, whose errors are ExtidErrors: this one
        # is the output (`extid list > /dev/full`, a full disk behind a redirection).
        print(f"extid: error: cannot write the output ({e.strerror})", file=sys.stderr)
        _silence_stdout()
        return 1
    except Exception as e:
        from .error_handler import report_bug  # deferred: only a bug pays for it

        return report_bug(e, args_list, BUG)


def _silence_stdout() -> None:
    """Point stdout at /dev/null: the reader is gone, and the interpreter's final flush of
    what is still buffered would otherwise print a second error."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout without a file descriptor (tests capture it)
        pass


if __name__ == "__main__":
    raise SystemExit(main())
