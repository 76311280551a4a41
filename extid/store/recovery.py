"""Recovery of state files whose bytes are not JSON: what each is rebuilt from (its `.bak`, git
`HEAD`, the entries still readable in it), what that would lose, and refusing a loss unless the
user accepted it (`extid repair --accept-loss`).

`plan` only reads (it serves `extid repair --dry-run`); `recover` plans under the store's lock,
refuses or writes through the store's `save`, and reports every action through `report`.

The sources, and why none is trusted alone: `.bak` is one write behind, `HEAD` may be further
behind (or ahead: a checkout or pull writes no `.bak`). The mapping is rebuilt from `.bak`, plus
the entries `HEAD` holds that `.bak` lacks, plus every complete entry read from the broken bytes
(the newest of all). What would still be missing is looked for in the evidence: external IDs the
broken bytes name, and numbers the last writes issued (at or above the counters' `.bak` and
HEAD's counters, below the counters, above the highest number kept) that no entry holds.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import migrations, model
from ..document import COUNTERS, MAPPING, Kind
from ..errors import ExtidError, ParseError
from ..ids import MAX_COUNTER, TOOLS, fold, format_external
from . import codec, salvage
from .durable import atomic_write, quarantine, read_bytes

Loaded = dict[Kind, tuple[dict[str, Any], str]]
#: Gap numbers listed one by one at most; a larger gap is summed up.
_LISTED = 20


@dataclass
class _Sources:
    """The older versions of one state file: raw bytes and, where they decode, documents."""

    backup: bytes | None = None
    committed: bytes | None = None
    head_name: str = "git HEAD"
    #: Source name -> (document, version), `.bak` first; `tags` says which is which.
    docs: dict[str, tuple[dict[str, Any], str]] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, path: str, kind: Kind) -> _Sources:
        found = cls(backup=_read_source(path + ".bak"))
        committed = head_version(Path(path))
        if committed is not None:
            found.head_name, found.committed = f"git HEAD:{committed[0]}", committed[1]
        for tag, name, data in (
            ("bak", path + ".bak", found.backup),
            ("head", found.head_name, found.committed),
        ):
            if data is not None:
                try:
                    found.docs[name] = codec.decode(data, kind, name)
                except ExtidError:
                    continue
                found.tags[tag] = name
        return found

    def doc(self, tag: str) -> dict[str, Any] | None:
        name = self.tags.get(tag)
        return None if name is None else self.docs[name][0]


@dataclass
class _Restore:
    """How one broken file will be put right (decided before anything is touched)."""

    kind: Kind
    path: str
    error: ExtidError
    corrupt: bytes
    doc: dict[str, Any]
    version: str
    source: str  # where the content comes from, for the report


@dataclass
class Plan:
    """What recovery would do: the files to restore, whether counters rise, what is lost."""

    restores: list[_Restore]
    raised: bool
    lost: list[str]

    def describe(self) -> list[str]:
        """One line per action, as `extid repair --dry-run` shows them."""
        out = [f"would restore {r.path} from {r.source}" for r in self.restores]
        if self.raised:
            out.append("would raise counters above every number the sources mention")
        out += [f"would lose {what}" for what in self.lost]
        return out


def plan(paths: Mapping[Kind, Path], loaded: Loaded, broken: dict[Kind, ExtidError]) -> Plan:
    """Decide the recovery of the `broken` files (reading only); `loaded` then holds both
    documents as they would be written."""
    sources = {kind: _Sources.read(str(paths[kind]), kind) for kind in (MAPPING, COUNTERS)}
    restores: list[_Restore] = []
    lost: list[str] = []
    for kind, error in broken.items():
        refuse_unmerged(str(paths[kind]), error)
        corrupt = _read_source(str(paths[kind])) or b""
        build = _rebuild_mapping if kind == MAPPING else _rebuild_counters
        restore, missing = build(str(paths[kind]), error, corrupt, sources[kind])
        restores.append(restore)
        lost += missing
        loaded[kind] = (restore.doc, restore.version)
    counters = loaded[COUNTERS][0]["counters"]
    issued = dict(model.iter_counters(counters))  # before raising: what the counters knew
    for restore in restores:
        if restore.kind == COUNTERS:
            for mark, value in salvage.scrape_numbers(restore.corrupt).items():
                issued[mark] = max(issued.get(mark, 0), value)
    seen = [r.corrupt for r in restores]
    seen += [d for s in sources.values() for d in (s.backup, s.committed) if d is not None]
    raised = _raise_counters(counters, loaded[MAPPING][0], seen)
    if MAPPING in broken:
        mapping = next(r for r in restores if r.kind == MAPPING)
        lost[:0] = _lost_ids(mapping, issued, _last_issued(sources[COUNTERS], issued))
    return Plan(restores, raised, lost)


def recover(
    paths: Mapping[Kind, Path],
    loaded: Loaded,
    broken: dict[Kind, ExtidError],
    *,
    accept_loss: bool,
    save: Callable[[dict[Kind, bytes]], None],
    report: Callable[[str], None],
) -> None:
    """Restore the `broken` files as `plan` decides, the broken bytes set aside as
    `<file>.corrupt-<UTC time>`; refused (nothing touched) if that would lose anything and
    the loss was not accepted."""
    decided = plan(paths, loaded, broken)
    if decided.lost and not accept_loss:
        first = decided.restores[0]
        more = f" and {len(decided.lost) - 1} more" if len(decided.lost) > 1 else ""
        raise ExtidError(
            f"{first.error}; restoring it from {first.source} would lose {decided.lost[0]}"
            f"{more}: see `extid repair --dry-run`, then put the file right by hand or run "
            "`extid repair --accept-loss`"
        )
    by_kind = {r.kind: r for r in decided.restores}
    for kind in (COUNTERS, MAPPING):  # counters first, as in every write
        todo = by_kind.get(kind)
        path = str(paths[kind])
        if todo is not None:
            report(_put_back(path, todo))
        elif kind == COUNTERS and decided.raised:
            doc, version = loaded[COUNTERS]
            save({COUNTERS: codec.encode(doc, COUNTERS, version, path)})
            report(f"{path}: counters raised above the restored numbers")
    for what in decided.lost:
        report(f"lost {what} (accepted with --accept-loss)")


def _rebuild_mapping(
    path: str, error: ExtidError, corrupt: bytes, sources: _Sources
) -> tuple[_Restore, list[str]]:
    """`.bak`, plus what `HEAD` holds that `.bak` lacks, plus every entry still readable."""
    docs = list(sources.docs.items())
    names = [name for name, _ in docs[:1]]
    doc, version = docs[0][1] if docs else (codec.empty_document(MAPPING), migrations.CURRENT)
    mappings = dict(doc["mappings"])
    read = salvage.entries(corrupt)
    held = {(t, e[t]) for e in (*mappings.values(), *read.values()) for t in TOOLS if t in e}
    spelled = {fold(k): k for k in mappings}  # a task is one task whatever the case of its ID
    known = {*spelled, *map(fold, read)}
    for name, (older, _) in docs[1:]:
        added = 0
        for key, entry in older["mappings"].items():
            if fold(key) not in known and not any(
                (t, entry[t]) in held for t in TOOLS if t in entry
            ):
                mappings[key] = entry
                added += 1
        if added:
            names.append(f"{added} more entries of {name}")
    for key, entry in read.items():  # the newest of all, in the spelling it has there
        mappings.pop(spelled.get(fold(key), key), None)
        mappings[key] = entry
    if read:
        names.append(f"{len(read)} entries still readable in the broken file")
    lost = [] if names else ["every entry (no .bak, no committed version, nothing readable)"]
    restored = {**doc, "mappings": mappings}
    return _Restore(
        MAPPING, path, error, corrupt, restored, version, " + ".join(names) or "nothing"
    ), lost


def _rebuild_counters(
    path: str, error: ExtidError, corrupt: bytes, sources: _Sources
) -> tuple[_Restore, list[str]]:
    """The first readable older version; every one is only a floor, raised afterwards above
    every number any source mentions."""
    for name, (doc, version) in sources.docs.items():
        return _Restore(COUNTERS, path, error, corrupt, doc, version, name), []
    lost = ["the counters of numbers no longer in use (no .bak, no committed version)"]
    doc = codec.empty_document(COUNTERS)
    return _Restore(COUNTERS, path, error, corrupt, doc, migrations.CURRENT, "nothing"), lost


def _held(mappings: dict[str, Any]) -> set[tuple[str, str]]:
    return {(t, e[t]) for e in mappings.values() for t in TOOLS if isinstance(e.get(t), str)}


def _last_issued(sources: _Sources, issued: dict[model.CounterKey, int]) -> Callable[..., int]:
    """For a tool/key, the lowest number the last writes may have issued. An allocation takes
    the top number and writes the counters (after their `.bak`) before the mapping: what it
    issued lies between the counters' `.bak` and the counters. Below that, and below HEAD's
    counters, a number held by no task was removed or never used: committed or backed-up
    history that the restored mapping (`.bak` plus `HEAD`) already reflects."""
    older = [sources.doc(tag) for tag in ("bak", "head")]
    floors = [doc["counters"] for doc in older if doc is not None]

    def lowest(tool: str, key: str | None) -> int:
        if not floors:  # neither committed nor ever rewritten by extid: nothing issued since
            return issued[(tool, key)]
        return max(model.get_counter(c, tool, key) for c in floors)

    return lowest


def _lost_ids(
    mapping: _Restore, issued: dict[model.CounterKey, int], lowest: Callable[..., int]
) -> list[str]:
    """The external IDs the restored mapping would no longer hold: named in the broken bytes,
    or issued by the last writes (see `_last_issued`) above the highest number kept."""
    mappings = mapping.doc["mappings"]
    held = _held(mappings)
    lost: list[str] = []
    for tool, value, task in salvage.mentioned_ids(mapping.corrupt):
        if (tool, value) not in held:
            held.add((tool, value))
            of = f" of {task}" if task else ""
            lost.append(f"{tool} {value}{of} (named in the broken file)")
    high = model.highest_used(mappings)
    for (tool, key), nxt in sorted(issued.items(), key=str):
        start = max(high.get((tool, key), 0) + 1, lowest(tool, key), 1)
        gap = [v for v in _numbers(tool, key, start, nxt) if (tool, v) not in held]
        if gap:
            lost.append(
                f"the task of {tool} {', '.join(gap)} (issued, say the counters; in no source)"
            )
    return lost


def _numbers(tool: str, key: str | None, start: int, stop: int) -> list[str]:
    """External IDs numbered start..stop-1, the middle of a long run left out."""
    if stop - start > _LISTED:
        first, last = format_external(tool, key, start), format_external(tool, key, stop - 1)
        return [f"{first} ... {last}"]
    return [format_external(tool, key, n) for n in range(start, stop)]


def _read_source(path: str) -> bytes | None:
    """read_bytes for a recovery source: an oversized one is no source."""
    try:
        return read_bytes(path)
    except ParseError:
        return None


def _raise_counters(counters: dict[str, Any], mapping: dict[str, Any], seen: list[bytes]) -> bool:
    """Raise `counters` above the numbers `mapping` uses and every number the `seen` bytes
    mention; whether anything changed."""
    high = {k: v + 1 for k, v in model.highest_used(mapping["mappings"]).items()}
    for data in seen:
        for mark, value in salvage.scrape_numbers(data).items():
            high[mark] = max(high.get(mark, 0), value)
    changed = False
    for (tool, key), value in high.items():
        if value <= MAX_COUNTER and model.get_counter(counters, tool, key) < value:
            model.set_counter(counters, tool, key, value)
            changed = True
    return changed


def _put_back(path: str, plan: _Restore) -> str:
    """Set the broken file aside and write the restored content; what was done."""
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
    from ..gitstate import rebasing

    try:
        top = git.toplevel(os.path.dirname(path))
        unmerged = top is not None and git.rel_to(top, path) in git.unmerged_paths(top)
    except ExtidError:
        return
    if unmerged:
        then = "`git rebase --continue`" if rebasing(top) else "commit"
        raise ExtidError(
            f"{path}: unresolved merge conflict; run `extid resolve` (or `extid resolve --ours`"
            f" / `--theirs` / `--renumber`) and {then} before using the registry"
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
