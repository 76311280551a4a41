"""What can still be read from the bytes of a broken state file: its complete entries, the
external IDs it names (with their task where one can be told) and the numbers it mentions.

Best effort over any bytes (truncated, half overwritten, with stray conflict markers): nothing
here trusts the file's structure, only the shape of one entry, a flat JSON object.
"""

from __future__ import annotations

import bisect
import re
from typing import Any

from .. import model
from ..document import MAPPING
from . import codec

# An entry is a flat object under its internal ID: `"TASK-a3f2": { ...no braces... }`.
_ENTRY_RE = re.compile(rb'"((?:[^"\\\n]|\\.){1,200})"\s*:\s*(\{[^{}]*\})')
_OPEN_RE = re.compile(rb'"((?:[^"\\\n]|\\.){1,200})"\s*:\s*\{')
_KEYED_VALUE_RE = re.compile(rb'"(jira|linear)"\s*:\s*"([A-Z][A-Z0-9_]{0,19})-([1-9][0-9]{0,15})"')
_NUMERIC_VALUE_RE = re.compile(rb'"(azure_devops|github)"\s*:\s*"([1-9][0-9]{0,15})"')
_NUMERIC_COUNTER_RE = re.compile(rb'"(azure_devops|github)"\s*:\s*([0-9]{1,16})\b')
_KEYED_COUNTERS_RE = re.compile(rb'"(jira|linear)"\s*:\s*\{([^{}]*)\}')
_KEY_COUNTER_RE = re.compile(rb'"([A-Z][A-Z0-9_]{0,19})"\s*:\s*([0-9]{1,16})\b')


def entries(data: bytes) -> dict[str, dict[str, Any]]:
    """Every complete, valid mapping entry in `data`. A task found twice with different
    contents (both sides of stray conflict markers) is left out: which one is newer cannot
    be told, and what it held is then reported as lost rather than guessed."""
    from ..merge.chunks import chunk_key, parse_chunk  # deferred: a rare path's imports

    found: dict[str, dict[str, Any]] = {}
    ambiguous: set[str] = set()
    for m in _ENTRY_RE.finditer(data):
        chunk = m.group(1) + b'": ' + m.group(2) + b","
        key, entry = chunk_key(chunk), parse_chunk(chunk)
        if key is None or not isinstance(entry, dict) or not _valid(key, entry):
            continue
        if key in found and found[key] != entry:
            ambiguous.add(key)
        found[key] = entry
    return {k: v for k, v in found.items() if k not in ambiguous}


def _valid(key: str, entry: dict[str, Any]) -> bool:
    from ..validate import check_entries

    doc = codec.empty_document(MAPPING)
    doc["mappings"] = {key: entry}
    return not check_entries(doc, [key], "<salvage>")


def mentioned_ids(data: bytes) -> list[tuple[str, str, str | None]]:
    """(tool, external ID, task or None) for every external ID `data` names, the task being
    the entry the ID sits in where its opening can still be read."""
    from ..merge.chunks import chunk_key

    opens = [(m.start(), m.group(1)) for m in _OPEN_RE.finditer(data)]
    starts = [at for at, _ in opens]
    out = []
    for pattern in (_KEYED_VALUE_RE, _NUMERIC_VALUE_RE):
        for m in pattern.finditer(data):
            value = b"-".join(m.groups()[1:]).decode()
            i = bisect.bisect_right(starts, m.start()) - 1
            task = chunk_key(opens[i][1] + b'": ') if i >= 0 else None
            out.append((m.group(1).decode(), value, task))
    return out


def scrape_numbers(data: bytes) -> dict[model.CounterKey, int]:
    """The next number each tool/key must at least have, from the external IDs and counters
    `data` mentions. Too high only costs a gap; too low could re-issue an ID, so everything
    that looks like one counts."""
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
