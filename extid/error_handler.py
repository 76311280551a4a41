"""What an unexpected exception (a bug in extid, not a user error) tells the user: one line on
stderr and a log file with the details to report.

Imported only when a command raised something other than ExtidError: a bug must not cost every
run its imports.
"""

from __future__ import annotations

import os
import platform
import sys
import traceback
from pathlib import Path

from . import __version__


def log_path() -> Path:
    """`$XDG_CACHE_HOME/extid/extid.log`, else `~/.cache/extid/extid.log`."""
    cache = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec: a relative value is invalid and ignored.
    base = Path(cache) if os.path.isabs(cache) else Path.home() / ".cache"
    return base / "extid" / "extid.log"


def details(exc: BaseException, argv: list[str]) -> str:
    """The report: what ran, on what, and the traceback (the latest bug only, as pre-commit's
    log: a log that grows with every failure is one nobody reads)."""
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return (
        "### version information\n\n"
        f"extid version: {__version__}\n"
        f"python: {sys.version.replace(chr(10), ' ')}\n"
        f"platform: {platform.platform()}\n"
        f"argv: {['extid', *argv]!r}\n"
        f"cwd: {os.getcwd()}\n\n"
        "### traceback\n\n"
        f"{trace}"
    )


def report_bug(exc: BaseException, argv: list[str], exit_code: int) -> int:
    """Tell the user, write the details where the message says, and return `exit_code`."""
    summary = " ".join(f"{type(exc).__name__}: {exc}".splitlines())  # one line, whatever exc says
    text = details(exc, argv)
    path = log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as e:  # no writable cache: the details go to stderr instead
        sys.stderr.write(text)
        print(
            f"extid: bug: an unexpected error ({summary}) is a bug in extid; the details are "
            f"above (could not write {path}: {e.strerror}), please report them",
            file=sys.stderr,
        )
        return exit_code
    print(
        f"extid: bug: an unexpected error ({summary}) is a bug in extid; "
        f"details in {path}, please report them",
        file=sys.stderr,
    )
    return exit_code
