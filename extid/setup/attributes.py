"""The `merge=extid` lines of the top-level `.gitattributes`: their patterns, written so that git
reads them as the state files' tracked paths, and recognised again on the next run.

A gitattributes pattern ends at the first blank unless it starts with a double quote, in which
case it is C-quoted (git 2.13 and newer); wildcard characters are escaped with a backslash.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

ATTRIBUTE = "merge=extid"
ATTRIBUTES_FILE = ".gitattributes"
_WILDCARDS = "*?[\\"
_C_ESCAPES = {"\\": "\\\\", '"': '\\"', "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_C_UNESCAPES = {"t": "\t", "n": "\n", "r": "\r"}


def tracked_path(top: Path, path: Path) -> str:
    """`path` as git tracks it, relative to the top level with / separators: through any
    symlink (`.claude` committed as a link to `config/claude`), since attributes match the
    tracked path and git merges that path, not the link. The last component is kept as it is:
    git tracks a symlinked file as the link."""
    from ..git import GitError

    real = os.path.join(os.path.realpath(path.parent), path.name)
    rel = os.path.relpath(real, os.path.realpath(top))
    if rel == os.pardir or rel.startswith(os.pardir + os.sep):
        raise GitError(f"{path}: outside the repository {top}")
    return Path(rel).as_posix()


def state_paths(top: Path, state_dir: Path) -> list[str]:
    """Both state files' tracked paths (see `tracked_path`)."""
    from ..document import COUNTERS_FILE, MAPPING_FILE

    return [tracked_path(top, state_dir / name) for name in (MAPPING_FILE, COUNTERS_FILE)]


def pattern(path: str) -> str:
    """The gitattributes pattern matching exactly `path` (relative to the top level)."""
    escaped = "".join("\\" + c if c in _WILDCARDS else c for c in path)
    if escaped.startswith(("#", "!")):
        escaped = "\\" + escaped
    if not any(c.isspace() or c == '"' for c in escaped):
        return escaped
    return '"' + "".join(_C_ESCAPES.get(c, c) for c in escaped) + '"'


def _unquote(text: str) -> str:
    """A pattern as git reads it: C-unquoted when it starts with a double quote."""
    if not text.startswith('"'):
        return text
    out, i = [], 1
    while i < len(text) and text[i] != '"':
        if text[i] == "\\" and i + 1 < len(text):
            i += 1
            out.append(_C_UNESCAPES.get(text[i], text[i]))
        else:
            out.append(text[i])
        i += 1
    return "".join(out)


def _ours_pattern(line: str) -> tuple[str, bool] | None:
    """(pattern, whether git reads it as that) of a `<pattern> merge=extid` line, or None for
    any other line. Not read as written: the unquoted pattern with a blank an older extid wrote
    for a path with a space (git takes its first word as the pattern)."""
    head, _, last = line.strip().rpartition(" ")
    head = head.strip()
    if last != ATTRIBUTE or not head:
        return None
    return _unquote(head), head.startswith('"') or not any(c.isspace() for c in head)


def ours(line: str) -> bool:
    """A line extid wrote: one state file's pattern with `merge=extid` alone."""
    from ..document import COUNTERS_FILE, MAPPING_FILE

    found = _ours_pattern(line)
    return found is not None and found[0].endswith((MAPPING_FILE, COUNTERS_FILE))


def ensure(top: Path, paths: Sequence[str]) -> list[str]:
    """Add a `<pattern> merge=extid` line for each path unless one is there; a line an earlier
    extid wrote unreadably (a path with a space, unquoted) is replaced. Everything else is kept
    byte for byte. Returns what changed."""
    file = top / ATTRIBUTES_FILE
    text = file.read_text("utf-8") if file.exists() else ""
    lines = text.splitlines(keepends=True)
    found = [_ours_pattern(line) for line in lines]
    added, done = [], []
    for path in paths:
        wanted = f"{pattern(path)} {ATTRIBUTE}"
        if (_unquote(pattern(path)), True) in found:
            continue
        if (path, False) in found:  # the unreadable old line: replace it where it is
            lines = [
                wanted + "\n" if f == (path, False) else x
                for x, f in zip(lines, found, strict=True)
            ]
            done.append(f"rewrote in {ATTRIBUTES_FILE}: {path} {ATTRIBUTE} -> {wanted}")
        else:
            added.append(wanted + "\n")
            done.append(f"added to {ATTRIBUTES_FILE}: {wanted}")
    if done:
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        file.write_text("".join(lines + added), "utf-8")
    return done


def remove(top: Path) -> list[str]:
    """Drop every line `ours` recognises; the file itself stays (it may hold other lines, and
    it is tracked). Returns the lines removed."""
    file = top / ATTRIBUTES_FILE
    if not file.exists():
        return []
    kept: list[str] = []
    removed: list[str] = []
    for line in file.read_text("utf-8").splitlines(keepends=True):
        (removed if ours(line) else kept).append(line)
    if removed:
        file.write_text("".join(kept), "utf-8")
    return [line.rstrip("\r\n") for line in removed]


def state_dirs(top: Path) -> list[str]:
    """The directories (relative to the top level, / separators, "" for the top) whose state
    files the `merge=extid` lines name: where a clone's registry lives, as the repository
    itself records it (`extid.stateDir` is the clone's own config, not tracked)."""
    from ..document import COUNTERS_FILE, MAPPING_FILE

    file = top / ATTRIBUTES_FILE
    try:
        text = file.read_text("utf-8", "replace")
    except OSError:  # none (or unreadable): nothing recorded
        return []
    found: list[str] = []
    for line in text.splitlines():
        ours_line = _ours_pattern(line)
        if ours_line is None or not ours_line[1]:
            continue
        path = re.sub(r"\\(.)", r"\1", ours_line[0])  # the wildcard escapes `pattern` adds
        directory, _, name = path.lstrip("/").rpartition("/")  # a leading / anchors only
        if name in (MAPPING_FILE, COUNTERS_FILE) and directory not in found:
            found.append(directory)
    return found
