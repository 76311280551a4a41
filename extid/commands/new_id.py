"""`extid new-id [--kind TASK] [--prefix E01]`: print a fresh hash ID not in the registry.

`--prefix` is the optional SUB part (`TASK-E01-b2c4`); `--kind` the PREFIX (TASK, EPIC, FEAT,
DOC). The registry is only read: the ID is taken when it is first allocated or recorded.
"""

from __future__ import annotations

import argparse
import re

KINDS = ("TASK", "EPIC", "FEAT", "DOC")
_SUB_RE = re.compile(r"[A-Z0-9]{2,4}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kind", choices=KINDS, default="TASK", help="ID prefix (default TASK)")
    parser.add_argument("--prefix", metavar="SUB", type=_sub, help="2-4 letters/digits, e.g. E01")


def _sub(value: str) -> str:
    """The SUB part, upper-cased; refused by the parser (a usage error, exit 2, before the
    registry is read)."""
    sub = value.upper()
    if _SUB_RE.fullmatch(sub) is None:
        raise argparse.ArgumentTypeError(f"{value!r} must be 2-4 letters or digits (e.g. E01)")
    return sub


def run(state_dir: str | None, kind: str = "TASK", prefix: str | None = None) -> int:
    from ..errors import BadArgumentError
    from ..ids import fold, new_internal_id
    from ..mapper import ExternalIDMapper
    from ..store import resolve_state_dir

    try:
        sub = _sub(prefix) if prefix is not None else None  # also for a caller of run()
    except argparse.ArgumentTypeError as e:
        raise BadArgumentError(f"--prefix {e}") from None
    taken = {fold(k) for k in ExternalIDMapper(resolve_state_dir(state_dir)).mappings()}
    print(new_internal_id(taken, prefix=kind, sub=sub))
    return 0
