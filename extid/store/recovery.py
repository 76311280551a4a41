"""Recovery of corrupt state files: which source to restore each from (`.bak`, git `HEAD`,
or empty on request), and counters raised above every number any source mentions.

The store calls `recover` under its lock with what it could and could not read; all writes
go back through the store's `save`, and every action through its `report`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import migrations, model
from ..document import COUNTERS, MAPPING, Kind
from ..errors import ExtidError, ParseError
from ..ids import MAX_COUNTER
from . import codec
from .durable import atomic_write, quarantine, read_bytes

Loaded = dict[Kind, tuple[dict[str, Any], str]]


@dataclass
class _Restore:
    """How one corrupt file will be put right (decided before anything is touched)."""

    kind: Kind
    error: ExtidError
    corrupt: bytes
    doc: dict[str, Any]
    version: str
    source: str  # where the content comes from, for the warning


def recover(
    paths: Mapping[Kind, Path],
    loaded: Loaded,
    broken: dict[Kind, ExtidError],
    *,
    fresh: bool,
    save: Callable[[dict[Kind, bytes]], None],
    report: Callable[[str], None],
) -> None:
    """Quarantine corrupt files as `<file>.corrupt-<UTC time>` and restore each from its
    `.bak`, else from git `HEAD`, else (only with `fresh`) empty; `loaded` then holds both
    documents. Decided for both files before anything is touched; the corrupt file stays in
    place if it cannot be restored, so nothing ever silently starts from zero. Counters are
    then raised above every number any of the files, backups or corrupt bytes mention, so a
    stale source re-issues nothing.
    """
    plans = [_plan(str(paths[kind]), kind, error, fresh) for kind, error in broken.items()]
    for plan in plans:
        loaded[plan.kind] = (plan.doc, plan.version)
    counters, counters_version = loaded[COUNTERS]
    backups = [_read_source(str(paths[kind]) + ".bak") for kind in (MAPPING, COUNTERS)]
    corrupt = [plan.corrupt for plan in plans]
    marks = (scrape_numbers(data) for data in [*corrupt, *backups] if data is not None)
    raised = _raise_counters(counters, loaded[MAPPING][0], marks)
    by_kind = {plan.kind: plan for plan in plans}
    for kind in (COUNTERS, MAPPING):  # counters first, as in every write
        todo = by_kind.get(kind)
        path = str(paths[kind])
        if todo is not None:
            report(_put_back(path, todo))
        elif kind == COUNTERS and raised:
            save({COUNTERS: codec.encode(counters, COUNTERS, counters_version, path)})
            report(f"{path}: counters raised above the restored numbers")


def _plan(path: str, kind: Kind, error: ExtidError, fresh: bool) -> _Restore:
    refuse_unmerged(path, error)
    corrupt = _read_source(path) or b""
    for source, data in _candidates(path):
        try:
            doc, version = codec.decode(data, kind, source)
        except ExtidError:
            continue
        return _Restore(kind, error, corrupt, doc, version, source)
    if fresh:
        doc = codec.empty_document(kind)
        return _Restore(kind, error, corrupt, doc, migrations.CURRENT, "nothing (started empty)")
    raise ExtidError(
        f"{error}; no valid {path}.bak and no committed version in git to restore from "
        "(the file was left as it is: fix it by hand, or run `extid repair --fresh` to "
        "set it aside and start it empty)"
    )


def _candidates(path: str) -> Iterator[tuple[str, bytes]]:
    backup = _read_source(path + ".bak")
    if backup is not None:
        yield path + ".bak", backup
    committed = head_version(Path(path))
    if committed is not None:
        yield f"git HEAD:{committed[0]}", committed[1]


def _read_source(path: str) -> bytes | None:
    """read_bytes for a recovery source: an oversized one is no source."""
    try:
        return read_bytes(path)
    except ParseError:
        return None


def _raise_counters(
    counters: dict[str, Any],
    mapping: dict[str, Any],
    sources: Iterator[dict[model.CounterKey, int]],
) -> bool:
    """Raise `counters` above the numbers `mapping` uses and the next-number marks of
    `sources`; whether anything changed."""
    marks = model.highest_used(mapping["mappings"])
    high = {k: v + 1 for k, v in marks.items()}
    for source in sources:
        for mark, value in source.items():
            high[mark] = max(high.get(mark, 0), value)
    changed = False
    values = counters["counters"]
    for (tool, key), value in high.items():
        if value <= MAX_COUNTER and model.get_counter(values, tool, key) < value:
            model.set_counter(values, tool, key, value)
            changed = True
    return changed


def _put_back(path: str, plan: _Restore) -> str:
    """Set the corrupt file aside and write the restored content; what was done."""
    aside = quarantine(path)
    # No backup here: `.bak` may be the very source we restore from.
    atomic_write(path, codec.encode(plan.doc, plan.kind, plan.version, path))
    where = f"moved aside to {aside}" if aside else "it had vanished"
    reason = str(plan.error).removeprefix(f"{path}: ")
    return f"{path} was corrupt ({reason}); {where}; restored from {plan.source}"


def refuse_unmerged(path: str, error: ExtidError) -> None:
    """A file git holds as conflicted is a merge in progress, not corruption: restoring it
    from `.bak` would silently drop the other branch. Send the user to `extid resolve`."""
    if "conflict marker" not in str(error):
        return
    from .. import git

    try:
        top = git.toplevel(os.path.dirname(path))
        unmerged = top is not None and git.rel_to(top, path) in git.unmerged_paths(top)
    except ExtidError:
        return
    if unmerged:
        raise ExtidError(
            f"{path}: unresolved merge conflict; run `extid resolve` (or `extid resolve --ours`"
            " / `--theirs` / `--renumber`) and commit before using the registry"
        )


def head_version(path: Path) -> tuple[str, bytes] | None:
    """(repo-relative path, bytes) of `path` at git `HEAD`, or None. Through `extid.git`
    (the git binary)."""
    from .. import git

    try:
        top = git.toplevel(path.parent)
        if top is None:
            return None
        rel = git.rel_to(top, os.path.realpath(path))
        data = git.head_blob(top, rel)
    except Exception:  # best effort: any failure means "no committed version to offer"
        return None
    return None if data is None else (rel, data)


# --- numbers mentioned anywhere, for raising counters after a restore --------------------

_KEYED_VALUE_RE = re.compile(rb'"(jira|linear)"\s*:\s*"([A-Z][A-Z0-9_]{0,19})-([1-9][0-9]{0,15})"')
_NUMERIC_VALUE_RE = re.compile(rb'"(azure_devops|github)"\s*:\s*"([1-9][0-9]{0,15})"')
_NUMERIC_COUNTER_RE = re.compile(rb'"(azure_devops|github)"\s*:\s*([0-9]{1,16})\b')
_KEYED_COUNTERS_RE = re.compile(rb'"(jira|linear)"\s*:\s*\{([^{}]*)\}')
_KEY_COUNTER_RE = re.compile(rb'"([A-Z][A-Z0-9_]{0,19})"\s*:\s*([0-9]{1,16})\b')


def scrape_numbers(data: bytes) -> dict[model.CounterKey, int]:
    """Best effort over any bytes (even a half-written or conflicted file): the next number
    each tool/key must at least have, from the external IDs and counters mentioned. Too high
    only costs a gap; too low could re-issue an ID, so everything that looks like one counts."""
    high: dict[model.CounterKey, int] = {}

    def mark(tool: bytes, key: bytes | None, value: int) -> None:
        k = (tool.decode(), None if key is None else key.decode())
        if value > high.get(k, 0):
            high[k] = value

    for m in _KEYED_VALUE_RE.finditer(data):
        mark(m.group(1), m.group(2), int(m.group(3)) + 1)
    for m in _NUMERIC_VALUE_RE.finditer(data):
        mark(m.group(1), None, int(m.group(2)) + 1)
    for m in _NUMERIC_COUNTER_RE.finditer(data):
        mark(m.group(1), None, int(m.group(2)))
    for m in _KEYED_COUNTERS_RE.finditer(data):
        for k in _KEY_COUNTER_RE.finditer(m.group(2)):
            mark(m.group(1), k.group(1), int(k.group(2)))
    return high
