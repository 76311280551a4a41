"""What the commands print for programs (`--json`): one JSON document on stdout.

The checks return their findings as values (`Problem`s, doctor's items, renumberings); the
commands print them as text, or hand them here. Reports of checks take the shape of
check-jsonschema's `--output-format json`, which tools that read a validator's report already
parse: `{"status": "ok" | "fail", "successes": [...], "errors": [{"filename", "path", "message",
"has_sub_errors"}], "parse_errors": [{"filename", "message"}]}`. Renumberings (`resolve`,
`post-merge`) are `{"id", "tool", "from", "to", "kept_by"}`. A task's entry (`lookup`,
`reverse`) is the entry itself with its `id`, `{}` for none.
"""

from __future__ import annotations

import json
import sys

from .errors import ParseProblem

TYPE_CHECKING = False  # not typing's: see errors.py
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from .errors import Problem
    from .merge import Renumbered


def status(failed: bool) -> str:
    return "fail" if failed else "ok"


def check_result(files: Sequence[str], problems: Sequence[Problem]) -> dict[str, Any]:
    """`extid check --json`: each checked file with no problem is a success; a file that could
    not be read as a state file at all is a parse error (its `path` the line and column, where
    known); every other problem is an error at a JSON path."""
    errors = [p for p in problems if not isinstance(p, ParseProblem)]
    unreadable = [p for p in problems if isinstance(p, ParseProblem)]
    failed = {p.file for p in problems}
    return {
        "status": status(bool(problems)),
        "successes": [f for f in files if f not in failed],
        "errors": [problem(p) | {"has_sub_errors": False} for p in errors],
        "parse_errors": [
            {"filename": p.file, **({"path": p.where} if p.where else {}), "message": p.message}
            for p in unreadable
        ],
    }


def problem(p: Problem) -> dict[str, Any]:
    """One problem as check-jsonschema reports an error: file, JSON path, message."""
    return {"filename": p.file, "path": p.where or "$", "message": p.message}


def renumbered(done: Sequence[Renumbered]) -> list[dict[str, str]]:
    """Renumberings (`resolve`, `post-merge`): each an ID to change in the tool, `from` the old
    number (which may already be there) `to` the new one; `kept_by` the task that keeps it."""
    return [
        {"id": r.internal_id, "tool": r.tool, "from": r.old, "to": r.new, "kept_by": r.kept_by}
        for r in done
    ]


def entry(found: tuple[str, dict[str, Any]] | None) -> dict[str, Any]:
    """A task's entry with its `id` (keys sorted when printed), `{}` for no task."""
    return {} if found is None else {"id": found[0], **found[1]}


def print_json(value: Any, *, sort_keys: bool = False) -> None:
    """One JSON document on stdout (UTF-8 as it is, indented, a final newline)."""
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=sort_keys, ensure_ascii=False) + "\n")
