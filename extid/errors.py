"""Error types and the `Problem` value that every check reports.

One user-facing exception family (`ExtidError`, like pre-commit's `FatalError`): the CLI prints
its message as a single line and exits non-zero, never a traceback.
"""

from __future__ import annotations

import json
from collections import namedtuple

# Not typing's: importing typing is ~3 ms of every start, a fifth of a hook's own budget on a
# small file (mypy gives any constant of this name its meaning).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import TypeGuard

_SAFE_KEY = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def jpath(parent: str, key: str | int) -> str:
    """JSON path of `key` under `parent`: `$.a.b`, `$.a[0]`, or `$.a["odd key"]` where the key
    must be quoted (control characters and escapes never reach the terminal raw)."""
    if isinstance(key, int):
        return f"{parent}[{key}]"
    if key and _SAFE_KEY.issuperset(key):
        return f"{parent}.{key}"
    return f"{parent}[{json.dumps(key, ensure_ascii=True)}]"


def jpath_of(keys: Iterable[str | int]) -> str:
    path = "$"
    for key in keys:
        path = jpath(path, key)
    return path


class ExtidError(Exception):
    """An error the user can act on; `str(err)` is one line that names the file."""

    exit_code = 1


class BadArgumentError(ExtidError, ValueError):
    """An argument is not an internal ID, a tool, a project key or an external ID: a usage
    error, exit 2 like argparse's."""

    exit_code = 2


class ParseError(ExtidError):
    """A state file is not strict JSON, or not a document extid can read.

    `corrupt`: its bytes cannot be parsed as JSON at all (truncated, not UTF-8, empty, conflict
    markers), the only case a writer may restore the file from elsewhere. A file that parses
    but is refused (a duplicate key, a huge number, the wrong kind of document) holds what the
    user wrote: theirs to fix, never replaced.
    """

    def __init__(
        self, file: str, where: str, message: str, *, corrupt: bool = True, fix: str | None = ""
    ) -> None:
        self.file, self.where, self.message, self.corrupt = file, where, message, corrupt
        #: What a user does about it (None: the message says it all, e.g. a missing file):
        #: `REPAIR_FIX` for unparseable bytes, else by hand.
        self.fix = (fix or (REPAIR_FIX if corrupt else HAND_FIX)) if fix is not None else None
        super().__init__(f"{file}: {where}: {message}" if where else f"{file}: {message}")

    @property
    def said(self) -> str:
        """The message as `check` prints it: ending in the fix."""
        return f"{self.message}; {self.fix}" if self.fix else self.message


class ValidationError(ExtidError):
    """A document parsed but breaks the schema or the semantic rules."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        first = str(problems[0]) if problems else "invalid"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(first + more)


#: The fix named when a state file's bytes are not JSON, and when it parses but breaks the rules
#: (`HAND_FIX` where `extid check` itself is speaking).
REPAIR_FIX = "run `extid repair` to restore it from its backup or git"
EDIT_FIX = "fix it by hand: `extid check` lists every problem"
#: `extid repair` refuses a restore that loses the entries between the markers: outside a
#: merge they come out by hand.
MARKERS_FIX = (
    "run `extid resolve` while git's merge is in progress; once committed, edit out the markers "
    "keeping both sides' entries (`extid repair --dry-run` shows what restoring the backup would "
    "lose)"
)
HAND_FIX = "edit it by hand: it parses, so `extid repair` leaves it to you"


def is_corrupt(error: ExtidError) -> TypeGuard[ParseError]:
    """Whether `error` says a file's bytes are unparseable (see `ParseError.corrupt`)."""
    return isinstance(error, ParseError) and error.corrupt


def with_fix(error: ExtidError) -> ExtidError:
    """`error`, its one line ending in the fix (the `ParseError`'s own, else `EDIT_FIX`); same
    type."""
    fix: str | None = EDIT_FIX
    if isinstance(error, ParseError) and error.fix != HAND_FIX:
        fix = error.fix  # None: the message says it all (a missing file)
    if fix and fix not in str(error):
        error.args = (f"{error} ({fix})",)
    return error


class NewerVersionError(ExtidError):
    """The file was written by a newer extid; we must never overwrite it."""


class LockTimeoutError(ExtidError):
    """The state directory's lock could not be taken in time."""


class ConflictError(ExtidError):
    """An operation would make two tasks share one external ID."""


class UnsafePathError(ExtidError):
    """A path is a symlink, escapes the repository or is otherwise refused."""


class Problem(namedtuple("Problem", ["file", "where", "message"])):
    """One finding about one file: printed as `file: $.json.path: message`.

    `collections.namedtuple` where typing.NamedTuple would need typing at run time (see
    TYPE_CHECKING); the annotations type the fields for mypy.
    """

    __slots__ = ()
    file: str
    where: str
    message: str

    def __str__(self) -> str:
        if self.where:
            return f"{self.file}: {self.where}: {self.message}"
        return f"{self.file}: {self.message}"


class ParseProblem(Problem):
    """A file that could not be read as a state file at all (a `ParseError`, or refused before
    parsing): `check --json` lists it under `parse_errors`, as check-jsonschema does.

    No `__slots__`: `fix` (the ParseError's, which `message` ends in) is kept apart for doctor,
    whose lines put the fix on a line of its own."""

    fix: str = ""

    def problem(self) -> str:
        """The line without its fix (all of it when the fix is not known)."""
        tail = f"; {self.fix}"
        text = str(self)
        return text[: -len(tail)] if self.fix and text.endswith(tail) else text
