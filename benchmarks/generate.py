"""Deterministic, realistic state files for the benchmark suite.

    python benchmarks/generate.py [--out benchmarks/data] [--sizes 1k,10k,100k] [--force]

Writes, in canonical form (`extid.document.canonical`):

* `state-<size>/external_id_mapping.json` and `external_id_counters.json` for each size, plus
  `state-tiny/` (3 entries) for the start-up row;
* `merge-collide/` and `merge-disjoint/`: base, ours and theirs of a 100k registry where each
  side adds 50 tasks. In `collide` both branches allocated the next numbers from the same
  counters (what two `extid allocate` runs on two branches do), so the same external IDs are
  given to different tasks; in `disjoint` the numbers came from the tools themselves (`extid
  record`), so every number is used once and a clean merge is possible.

What "realistic" means here: hash IDs of the grammar in extid/ids.py, mostly `TASK-E07-b2c4`
(SUB = the epic's code) over 40 epics of uneven size, some `.N` subtasks, some FEAT/DOC; ~80%
of tasks have a jira key over 4 projects, ~50% an azure_devops number, ~50% a linear key over 2
teams, ~60% a github number; numbers are handed out in creation order with occasional gaps
(issued in the tool, never tracked here); every counter is the highest used number + 1.
Everything comes from seeded `random.Random` instances: the same sizes give the same bytes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import random
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from extid.document import canonical
from extid.ids import fold, is_internal_id

SEED = 20261126
EPICS = 40
JIRA_PROJECTS = (("PROJ", 40), ("CORE", 30), ("WEB", 20), ("OPS", 10))
LINEAR_TEAMS = (("TEAM", 60), ("PLAT", 40))
SHARE = {"jira": 0.80, "azure_devops": 0.50, "linear": 0.50, "github": 0.60}
FIRST_NUMBER = {"azure_devops": 1000, "github": 1}
START = dt.datetime(2023, 1, 2, 9, 0, 0, tzinfo=dt.timezone.utc)
#: The history spans about this long whatever the size; only the density of tasks changes.
SPAN_SECONDS = 1000 * 86400
GAP_PROBABILITY = 0.04
SUBTASK_PROBABILITY = 0.10
MERGE_SIZE = 100_000
MERGE_ADDITIONS = 50
MAPPING_FILE = "external_id_mapping.json"
COUNTERS_FILE = "external_id_counters.json"
SIZES = {"tiny": 3, "1k": 1_000, "10k": 10_000, "100k": 100_000}

Doc = dict[str, Any]


def stamp(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Numbers:
    """The next number of every tool/key, handed out in order (the tools' own sequences)."""

    rng: random.Random
    next: dict[tuple[str, str | None], int] = field(default_factory=dict)

    def take(self, tool: str, key: str | None) -> str:
        n = self.next.get((tool, key), FIRST_NUMBER.get(tool, 1))
        if self.rng.random() < GAP_PROBABILITY:
            n += self.rng.randint(1, 3)  # issued in the tool, never tracked here
        self.next[(tool, key)] = n + 1
        return f"{key}-{n}" if key else str(n)

    def copy(self, rng: random.Random) -> Numbers:
        return Numbers(rng, dict(self.next))


class IdMaker:
    """New internal IDs: mostly TASK-<epic code>-<hash>, unique up to case."""

    def __init__(self, rng: random.Random, taken: set[str]) -> None:
        self.rng = rng
        self.taken = taken  # folded IDs in use, shared between makers that must not collide
        self.parents: list[str] = []

    def make(self, epic: int) -> str:
        rng = self.rng
        if self.parents and rng.random() < SUBTASK_PROBABILITY:
            parent = rng.choice(self.parents[-200:])  # subtasks follow their parent closely
            for n in range(1, 100):
                candidate = f"{parent}.{n}"
                if fold(candidate) not in self.taken:
                    return self._take(candidate, parent=False)
        prefix = rng.choices(("TASK", "FEAT", "DOC", "EPIC"), (85, 8, 5, 2))[0]
        sub = f"E{epic:02d}-" if rng.random() < 0.9 else ""
        width = 4
        while True:
            hash_ = f"{rng.getrandbits(4 * width):0{width}x}"
            if rng.random() < 0.03:
                hash_ = hash_.upper()
            candidate = f"{prefix}-{sub}{hash_}"
            if fold(candidate) not in self.taken:
                return self._take(candidate, parent=True)
            width = min(width + 1, 6)  # a crowded short space: widen, as `extid new-id` does

    def _take(self, internal: str, *, parent: bool) -> str:
        assert is_internal_id(internal), internal
        self.taken.add(fold(internal))
        if parent:
            self.parents.append(internal)
        return internal


def _epic_weights() -> list[int]:
    # Uneven epics: a few large ones, many small ones.
    return [1 + (i * 7) % 11 for i in range(EPICS)]


def make_entry(rng: random.Random, numbers: Numbers, epic: int, created: dt.datetime) -> Doc:
    entry: Doc = {"created": stamp(created), "epic": f"EPIC-{epic:03d}"}
    if rng.random() < SHARE["jira"]:
        key = rng.choices([k for k, _ in JIRA_PROJECTS], [w for _, w in JIRA_PROJECTS])[0]
        entry["jira"] = numbers.take("jira", key)
    if rng.random() < SHARE["azure_devops"]:
        entry["azure_devops"] = numbers.take("azure_devops", None)
    if rng.random() < SHARE["linear"]:
        key = rng.choices([k for k, _ in LINEAR_TEAMS], [w for _, w in LINEAR_TEAMS])[0]
        entry["linear"] = numbers.take("linear", key)
    if rng.random() < SHARE["github"]:
        entry["github"] = numbers.take("github", None)
    return entry


def counters_for(mappings: Doc) -> Doc:
    """Counters exactly at highest used + 1 for every tool/key that is used."""
    counters: Doc = {"azure_devops": 0, "github": 0, "jira": {}, "linear": {}}
    for entry in mappings.values():
        for tool in ("jira", "linear"):
            if tool in entry:
                key, n = entry[tool].rsplit("-", 1)
                counters[tool][key] = max(counters[tool].get(key, 0), int(n) + 1)
        for tool in ("azure_devops", "github"):
            if tool in entry:
                counters[tool] = max(counters[tool], int(entry[tool]) + 1)
    return counters


def envelope(kind_key: str, inner: Doc, updated: str) -> Doc:
    return {kind_key: inner, "updated": updated, "version": "1.0"}


@dataclass
class Registry:
    """A generated registry plus what is needed to continue its history on a branch."""

    mappings: Doc
    numbers: Numbers
    taken: set[str]
    last: dt.datetime

    def documents(self) -> tuple[Doc, Doc]:
        updated = stamp(self.last + dt.timedelta(minutes=5))
        return (
            envelope("mappings", self.mappings, updated),
            envelope("counters", counters_for(self.mappings), updated),
        )


@functools.lru_cache(maxsize=2)  # the 100k registry is the base of both merge fixtures
def generate(n: int, seed: int = SEED) -> Registry:
    """A registry of `n` tasks; callers must not mutate it (it is cached)."""
    rng = random.Random(seed * 1_000_003 + n)
    numbers = Numbers(rng)
    ids = IdMaker(rng, set())
    weights = _epic_weights()
    mean_gap = SPAN_SECONDS / max(n, 1)
    t = START
    mappings: Doc = {}
    for _ in range(n):
        t += dt.timedelta(seconds=1 + int(rng.expovariate(1 / mean_gap)))
        epic = rng.choices(range(1, EPICS + 1), weights)[0]
        internal = ids.make(epic)
        mappings[internal] = make_entry(rng, numbers, epic, t)
    return Registry(mappings, numbers, ids.taken, t)


def state_documents(n: int, seed: int = SEED) -> tuple[Doc, Doc]:
    """(mapping document, counters document) of a registry of `n` tasks."""
    return generate(n, seed).documents()


# --- merge fixtures ---------------------------------------------------------------------


def branch(
    base: Registry, numbers: Numbers, ids: IdMaker, rng: random.Random, additions: int
) -> Registry:
    """`base` plus `additions` new tasks numbered from `numbers`."""
    mappings = dict(base.mappings)
    t = base.last
    for _ in range(additions):
        t += dt.timedelta(minutes=rng.randint(3, 90))
        epic = rng.choices(range(1, EPICS + 1), _epic_weights())[0]
        mappings[ids.make(epic)] = make_entry(rng, numbers, epic, t)
    return Registry(mappings, numbers, ids.taken, t)


def merge_fixtures(
    n: int = MERGE_SIZE, additions: int = MERGE_ADDITIONS, *, collide: bool, seed: int = SEED
) -> dict[str, tuple[Doc, Doc]]:
    """{"base"|"ours"|"theirs": (mapping, counters)} of one merge scenario.

    The two sides always add different tasks. With `collide`, each side numbers its tasks from
    the base's counters on its own, so both use e.g. PROJ-<next>; without, the numbers of both
    sides come from one shared sequence (the real tool's), so none is used twice.
    """
    base = generate(n, seed)
    taken = set(base.taken)  # one set: the two sides never invent the same internal ID
    sides = {}
    for i, name in enumerate(("ours", "theirs"), start=1):
        rng = random.Random(seed + i)
        # Both sides start from the base's sequences, so with `collide` they pick the same
        # next numbers; without, _renumber replaces them with one shared sequence.
        numbers = base.numbers.copy(random.Random(seed + 3))
        sides[name] = branch(base, numbers, IdMaker(rng, taken), rng, additions)
    if not collide:
        _renumber(base, sides["ours"], sides["theirs"], seed)
    return {"base": base.documents(), **{k: v.documents() for k, v in sides.items()}}


def _renumber(base: Registry, ours: Registry, theirs: Registry, seed: int) -> None:
    """Number both sides' additions in time order from one sequence (the real tool's)."""
    added = [
        (e["created"], k, side)
        for side in (ours, theirs)
        for k, e in side.mappings.items()
        if k not in base.mappings
    ]
    numbers = base.numbers.copy(random.Random(seed + 4))
    for _, k, side in sorted(added, key=lambda a: (a[0], a[1])):
        entry = side.mappings[k]
        for tool in ("jira", "azure_devops", "linear", "github"):
            if tool in entry:
                key = entry[tool].rsplit("-", 1)[0] if tool in ("jira", "linear") else None
                entry[tool] = numbers.take(tool, key)


# --- growth shapes: bulk field changes and deletions on both branches ---------------------


def _edited(base: Registry, changes: dict[str, Doc | None]) -> Doc:
    """The base's mapping document with `changes` applied (None deletes); counters unchanged,
    as they never go down."""
    mappings = {k: v for k, v in base.mappings.items() if changes.get(k, v) is not None}
    for k, entry in changes.items():
        if entry is not None:
            mappings[k] = entry
    return envelope("mappings", mappings, stamp(base.last + dt.timedelta(hours=1)))


def edit_fixtures(n: int, shape: str, seed: int = SEED) -> dict[str, tuple[Doc, Doc]]:
    """{"base"|"ours"|"theirs": (mapping, counters)} of a merge where both branches edit the
    same entries. `fields`: every 5th entry gets a new `epic` on both sides, the same one on two
    thirds of them, a different one on the last third (field conflicts). `deletes`: every 10th
    entry is deleted on ours and re-labelled on theirs (deletion against modification), and
    every 10th entry offset by 5 is deleted on theirs only (a clean deletion)."""
    base = generate(n, seed)
    ours: dict[str, Doc | None] = {}
    theirs: dict[str, Doc | None] = {}
    for i, (k, entry) in enumerate(base.mappings.items()):
        if shape == "fields" and i % 5 == 0:
            ours[k] = {**entry, "epic": "EPIC-100"}
            theirs[k] = {**entry, "epic": "EPIC-200" if (i // 5) % 3 == 0 else "EPIC-100"}
        elif shape == "deletes" and i % 10 == 0:
            ours[k], theirs[k] = None, {**entry, "epic": "EPIC-100"}
        elif shape == "deletes" and i % 10 == 5:
            theirs[k] = None
    if shape not in ("fields", "deletes"):
        raise ValueError(f"unknown shape {shape!r}")
    mapping, counters = base.documents()
    return {
        "base": (mapping, counters),
        "ours": (_edited(base, ours), counters),
        "theirs": (_edited(base, theirs), counters),
    }


# --- files ------------------------------------------------------------------------------


def write(path: Path, doc: Doc) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = canonical(doc)
    if not path.exists() or path.read_bytes() != data:
        path.write_bytes(data)


def write_state(directory: Path, n: int) -> None:
    mapping, counters = state_documents(n)
    write(directory / MAPPING_FILE, mapping)
    write(directory / COUNTERS_FILE, counters)


def write_merge(directory: Path, *, collide: bool, n: int = MERGE_SIZE) -> None:
    for side, (mapping, counters) in merge_fixtures(n, collide=collide).items():
        write(directory / f"{side}.json", mapping)
        write(directory / f"counters-{side}.json", counters)


def write_branches(state: Path, repo: Path, refs: int) -> None:
    """A git repo at `repo` with the state files of `state` committed on `main` and `refs - 1`
    more branches, each a commit whose mapping file differs in its "updated" field (the ledger
    seeding's input: every ref its own version of the file)."""

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.name=bench", "-c", "user.email=bench@invalid", *args],
            cwd=repo, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    target = repo / ".claude" / "state"
    target.mkdir(parents=True)
    git("init", "-q", "-b", "main")
    for name in (MAPPING_FILE, COUNTERS_FILE):
        (target / name).write_bytes((state / name).read_bytes())
    git("add", "-A")
    git("commit", "-q", "-m", "registry")
    mapping = (state / MAPPING_FILE).read_bytes()
    at = mapping.rindex(b'"updated": "') + len(b'"updated": "')
    stream = subprocess.Popen(["git", "fast-import", "--quiet"], cwd=repo, stdin=subprocess.PIPE)
    assert stream.stdin is not None
    for i in range(1, refs):
        blob = mapping[:at] + b"2030-01-01T00:%02d:%02dZ" % divmod(i, 60) + mapping[at + 20 :]
        stream.stdin.write(
            b"commit refs/heads/b%d\ncommitter bench <bench@invalid> 0 +0000\ndata 0\n"
            b"from refs/heads/main^0\nM 100644 inline %s\ndata %d\n"
            % (i, b".claude/state/" + MAPPING_FILE.encode(), len(blob))
        )
        stream.stdin.write(blob + b"\n")
    stream.stdin.close()
    if stream.wait() != 0:
        raise SystemExit(f"git fast-import failed in {repo}")


def state_dir(out: Path, size: str) -> Path:
    return out / f"state-{size}"


def ensure(out: Path, sizes: list[str], *, merge: bool = True, force: bool = False) -> None:
    """Generate what is missing (or everything with `force`)."""
    for size in sizes:
        d = state_dir(out, size)
        if force or not (d / MAPPING_FILE).exists() or not (d / COUNTERS_FILE).exists():
            print(f"generating {d} ({SIZES[size]} tasks)", file=sys.stderr)
            write_state(d, SIZES[size])
    if merge:
        for variant in ("collide", "disjoint"):
            d = out / f"merge-{variant}"
            if force or not all((d / f"{s}.json").exists() for s in ("base", "ours", "theirs")):
                print(
                    f"generating {d} ({MERGE_SIZE} tasks + {MERGE_ADDITIONS} per side)",
                    file=sys.stderr,
                )
                write_merge(d, collide=variant == "collide")


DEFAULT_OUT = Path(__file__).resolve().parent / "data"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--sizes", default="tiny,1k,10k,100k", help=f"comma-separated, of {', '.join(SIZES)}"
    )
    parser.add_argument("--no-merge", action="store_true", help="skip the merge fixtures")
    parser.add_argument("--force", action="store_true", help="regenerate existing files")
    args = parser.parse_args(argv)
    sizes = [s for s in args.sizes.split(",") if s]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        parser.error(f"unknown size(s): {', '.join(unknown)}")
    ensure(args.out, sizes, merge=not args.no_merge, force=args.force)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
