"""Growth curves: every path of extid timed as a whole process at 10k and 100k entries (1M for
`check`, `format --check` and a clean merge), with its growth exponent and peak memory.

    python benchmarks/growth.py                       # full run, writes benchmarks/GROWTH.md
    python benchmarks/growth.py --sizes 10k,100k      # no third size
    python benchmarks/growth.py --sizes 200,2000 --runs 1 --output -   # smoke run, prints only

The exponent is log(t_large / t_small) / log(n_large / n_small): 1.0 is linear. Both times come
from the same run, sizes alternating round by round, so a change of machine load hits both.
Inputs are made by generate.py's seeded generators in a child process (shapes: docs/benchmarks.md),
so this process stays small: a child's ru_maxrss (os.wait4) starts at the spawning process's own
high-water mark on Linux, and the harness's is printed as the floor of the memory column.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402  (sibling scripts, not a package)
import run  # noqa: E402

STATE = Path(".claude") / "state"
MAPPING, COUNTERS = generate.MAPPING_FILE, generate.COUNTERS_FILE
BIG_PATHS = ("check", "format --check", "merge-driver clean")
#: Conflict-heavy merges also timed with `git merge-file -p` on the same three files.
GIT_PEERS = {
    "merge-driver collisions": "collide",
    "merge-driver field conflicts": "fields",
    "merge-driver deletions": "deletes",
}
MERGES = {"clean": ("disjoint", 100), "collide": ("collide", 100), "renumber": ("collide", 20)}
NEW_ID, RECORD_ID = "DOC-E99-ffff", "DOC-E99-eeee"  # epic 99: no generated ID uses it


def parse_size(text: str) -> int:
    scale = {"k": 1_000, "M": 1_000_000}
    return int(text[:-1]) * scale[text[-1]] if text[-1] in scale else int(text)


def label(n: int) -> str:
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


# --- inputs (made in a child process) ---------------------------------------------------


def make(out: Path, n: int, small: bool) -> None:
    """Every shape at `n` entries under `out`; `small`: the full set, else BIG_PATHS' only."""
    generate.write_state(out / "state", n)
    for name, (variant, per) in MERGES.items():
        if small or name == "clean":
            docs = generate.merge_fixtures(n, max(n // per, 1), collide=variant == "collide")
            _write_merge(out / f"merge-{name}", docs)
    if not small:
        return
    for shape in ("fields", "deletes"):
        _write_merge(out / f"merge-{shape}", generate.edit_fixtures(n, shape))
    mapping, counters = generate.state_documents(n)
    # An unversioned (pre-envelope) pair for migrate, and a non-canonical mapping for format.
    generate.write(out / "unversioned" / MAPPING, mapping["mappings"])
    generate.write(out / "unversioned" / COUNTERS, counters["counters"])
    loose = out / "loose" / MAPPING
    loose.parent.mkdir(parents=True, exist_ok=True)
    loose.write_text(json.dumps(mapping, indent=4))
    (out / "meta.json").write_text(json.dumps({"existing": next(iter(mapping["mappings"]))}))


def _write_merge(d: Path, docs: dict[str, tuple[generate.Doc, generate.Doc]]) -> None:
    for side, (mapping, counters) in docs.items():
        generate.write(d / f"{side}.json", mapping)
        generate.write(d / f"counters-{side}.json", counters)


def git(cwd: Path, *args: str, check: bool = True) -> None:
    subprocess.run(
        ["git", "-c", "user.name=bench", "-c", "user.email=bench@invalid", *args],
        cwd=cwd, check=check, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def make_repo(data: Path, repo: Path) -> Path:
    """(Once per directory) a git repo with the registry committed on `main`, and branches
    `ours`/`theirs` carrying the field-conflict shape (for `resolve`: merged without the
    driver, git leaves markers)."""
    if repo.exists():
        return repo
    repo.parent.mkdir(parents=True, exist_ok=True)
    git(repo.parent, "init", "-q", "-b", "main", repo.name)
    state = repo / STATE
    state.mkdir(parents=True)
    for side in ("base", "ours", "theirs"):
        branch = "main" if side == "base" else side
        if side != "base":
            git(repo, "checkout", "-q", "-b", branch, "main")
        shutil.copyfile(data / "merge-fields" / f"{side}.json", state / MAPPING)
        shutil.copyfile(data / "state" / COUNTERS, state / COUNTERS)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", side)
    git(repo, "checkout", "-q", "main")  # the base of merge-fields is the registry itself
    return repo


# --- the paths --------------------------------------------------------------------------


@dataclass
class Case:
    """How to run one path on the inputs of one size (`data`) in a scratch directory."""

    name: str
    build: Callable[[Path, Path], run.Cmd]  # (data dir, work dir) -> command


def _copier(pairs: list[tuple[Path, Path]]) -> Callable[[], None]:
    def prepare() -> None:
        for src, dst in pairs:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)

    return prepare


def merge_case(shape: str, *extra: str) -> Callable[[Path, Path], run.Cmd]:
    def build(data: Path, work: Path) -> run.Cmd:
        src, d = data / f"merge-{shape}", work / f"merge-{shape}"
        sides = ("base", "ours", "theirs")
        argv = [*run.extid_argv(), "merge-driver", *extra, "base.json", "ours.json", "theirs.json"]
        return run.Cmd(
            [*argv, run.MERGE_PATH],
            prepare=_copier([(src / f"{s}.json", d / f"{s}.json") for s in sides]),
            cwd=d,
        )

    return build


def git_merge_file(shape: str) -> Callable[[Path, Path], run.Cmd]:
    def build(data: Path, work: Path) -> run.Cmd:
        argv = ["git", "merge-file", "-p", "ours.json", "base.json", "theirs.json"]
        return run.Cmd(argv, cwd=data / f"merge-{shape}")

    return build


def state_case(*args: str, source: str = "state") -> Callable[[Path, Path], run.Cmd]:
    """`extid ARGS` in the repo, on fresh copies of the registry (commands may write)."""

    def build(data: Path, work: Path) -> run.Cmd:
        repo = make_repo(data, work / "repo")
        meta = json.loads((data / "meta.json").read_text())
        argv = [a.format(existing=meta["existing"]) for a in args]
        files = [(data / source / f, repo / STATE / f) for f in (MAPPING, COUNTERS)]
        return run.Cmd([*run.extid_argv(), *argv], prepare=_copier(files), cwd=repo)

    return build


def file_case(*args: str, source: str = "state") -> Callable[[Path, Path], run.Cmd]:
    """`extid ARGS FILE` on a fresh copy of one mapping file (no repository needed)."""

    def build(data: Path, work: Path) -> run.Cmd:
        dst = work / f"file-{source}" / MAPPING
        prepare = _copier([(data / source / MAPPING, dst)])
        return run.Cmd([*run.extid_argv(), *args, str(dst)], prepare=prepare, cwd=work)

    return build


#: The ledger's seeding on its own (a clone's first allocation does it, then allocates).
SEED = (
    "import sys; from pathlib import Path; from extid.ledger.seed import seed; "
    "seed(Path(sys.argv[1]))"
)


def seed_case(refs: int) -> Callable[[Path, Path], run.Cmd]:
    """`extid.ledger.seed` in a repo with the registry on `main` and `refs - 1` more branches,
    each a commit whose mapping file differs (its "updated" field): every ref's version is a
    blob of its own to read, the worst case (refs that share a version share its blob)."""

    def build(data: Path, work: Path) -> run.Cmd:
        repo = work / f"seed-{refs}"
        if not repo.exists():
            generate.write_branches(data / "state", repo, refs)
        return run.Cmd([sys.executable, "-c", SEED, str(repo / STATE)], cwd=repo)

    return build


def repair_case(data: Path, work: Path) -> run.Cmd:
    """A mapping file cut in half (a torn write), its `.bak` intact: `extid repair` restores."""
    repo = make_repo(data, work / "repo")
    good = data / "state" / MAPPING
    torn = work / "torn.json"
    raw = good.read_bytes()
    torn.write_bytes(raw[: len(raw) // 2])
    pairs = [(torn, repo / STATE / MAPPING), (good, repo / STATE / (MAPPING + ".bak"))]
    pairs.append((data / "state" / COUNTERS, repo / STATE / COUNTERS))
    return run.Cmd([*run.extid_argv(), "repair"], prepare=_copier(pairs), cwd=repo)


def resolve_case(data: Path, work: Path) -> run.Cmd:
    """`extid resolve --ours` after `git merge theirs` left the field conflicts in the file."""
    repo = make_repo(data, work / "resolve")

    def prepare() -> None:
        git(repo, "reset", "-q", "--hard")
        git(repo, "checkout", "-q", "ours")
        git(repo, "merge", "-q", "theirs", check=False)  # conflicts: stages 1-3 in the index

    argv = [*run.extid_argv(), "resolve", "--ours", str(STATE / MAPPING)]
    return run.Cmd(argv, prepare=prepare, cwd=repo)


CASES = [
    Case("merge-driver clean", merge_case("clean")),
    Case("merge-driver collisions", merge_case("collide")),
    Case("merge-driver field conflicts", merge_case("fields")),
    Case("merge-driver deletions", merge_case("deletes")),
    Case("merge-driver renumber", merge_case("renumber", "--on-collision", "renumber")),
    Case("resolve", resolve_case),
    Case("repair", repair_case),
    Case("check", file_case("check")),
    Case("format", file_case("format", source="loose")),
    Case("format --check", file_case("format", "--check")),
    Case("migrate --dry-run", state_case("migrate", "--dry-run", source="unversioned")),
    Case("post-merge", state_case("post-merge")),
    Case("allocate", state_case("allocate", "--project", "PROJ", NEW_ID, "jira")),
    Case("record", state_case("record", RECORD_ID, "github", "99999999")),
    Case("remove", state_case("remove", "{existing}")),
    Case("doctor", state_case("doctor")),
    Case("ledger seed x10 refs", seed_case(10)),
    Case("ledger seed x100 refs", seed_case(100)),
    *(
        Case(f"git merge-file: {c.split(' ', 1)[1]}", git_merge_file(s))
        for c, s in GIT_PEERS.items()
    ),
]


# --- timing -----------------------------------------------------------------------------


@dataclass
class Curve:
    """One path's samples per size (seconds), peak RSS (KB) and exit codes."""

    seconds: dict[int, list[float]] = field(default_factory=dict)
    peak_kb: dict[int, int] = field(default_factory=dict)
    codes: set[int] = field(default_factory=set)

    def add(self, n: int, sample: run.Sample) -> None:
        self.seconds.setdefault(n, []).append(sample.seconds)
        self.peak_kb[n] = max(self.peak_kb.get(n, 0), sample.peak_kb)
        self.codes.add(sample.rc)

    def median(self, n: int) -> float | None:
        return statistics.median(self.seconds[n]) if n in self.seconds else None


def exponent(curve: Curve, small: int, large: int) -> float | None:
    a, b = curve.median(small), curve.median(large)
    return math.log(b / a) / math.log(large / small) if a and b else None


def measure(cases: list[Case], data: dict[int, Path], work: Path, runs: int) -> dict[str, Curve]:
    """Per case: one warm-up at the smallest size, then `runs` rounds over the sizes, their
    order reversed every other round; a third size (the largest) is run once, for BIG_PATHS."""
    big = sorted(data)[2:]
    curves: dict[str, Curve] = {}
    for case in cases:
        sizes = [n for n in sorted(data) if n not in big or case.name in BIG_PATHS]
        cmds = {n: case.build(data[n], work / label(n)) for n in sizes}
        run.timed(cmds[sizes[0]])
        curve = curves[case.name] = Curve()
        for r in range(runs):
            for n in sizes if r % 2 == 0 else sizes[::-1]:
                if n not in big or r == 0:
                    curve.add(n, run.timed(cmds[n]))
        print(f"  {case.name}: {summary(curve, sizes)}", file=sys.stderr)
    return curves


def summary(curve: Curve, sizes: list[int]) -> str:
    return ", ".join(f"{label(n)} {curve.median(n) or 0:.3f} s" for n in sizes)


# --- the table --------------------------------------------------------------------------


def table(curves: dict[str, Curve], data: dict[int, Path]) -> list[str]:
    sizes = sorted(data)
    small, mid = sizes[0], sizes[min(1, len(sizes) - 1)]
    head = ["path", *(f"t({label(n)})" for n in sizes), f"exponent {label(small)}-{label(mid)}"]
    if len(sizes) > 2:
        head.append(f"exponent {label(mid)}-{label(sizes[2])}")
    head += ["peak RSS at largest", "peak / file", "exit", f"x git merge-file at {label(mid)}"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, curve in curves.items():
        largest = max(curve.seconds)
        cells = [name, *(f"{m:.3f} s" if (m := curve.median(n)) else "-" for n in sizes)]
        cells += [_exp(exponent(curve, small, mid))]
        if len(sizes) > 2:
            cells.append(_exp(exponent(curve, mid, sizes[2])) if sizes[2] in curve.seconds else "-")
        file_kb = (data[largest] / "state" / MAPPING).stat().st_size / 1024
        peak = curve.peak_kb[largest]
        cells += [f"{peak / 1024:.0f} MB ({label(largest)})", f"{peak / file_kb:.1f}x"]
        cells.append(",".join(map(str, sorted(curve.codes))))
        peer = f"git merge-file: {name.split(' ', 1)[1]}" if name in GIT_PEERS else None
        mine, theirs = curve.median(mid), curves[peer].median(mid) if peer in curves else None
        cells.append(f"{mine / theirs:.1f}x" if peer and mine and theirs else "")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _exp(value: float | None) -> str:
    return "-" if value is None else f"**{value:.2f}**" if value > 1.15 else f"{value:.2f}"


def report(curves: dict[str, Curve], data: dict[int, Path], runs: int, argv: list[str]) -> str:
    floor = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return "\n".join(
        [
            "# Growth",
            "",
            f"Produced by `python benchmarks/growth.py {' '.join(argv)}` (see docs/benchmarks.md,",
            f'"Growth"). Whole processes, nothing subtracted; median of {runs} (1 at size 3).',
            "Exponent: log(t_large / t_small) / log(n_large / n_small), target <= 1.15 (bold:",
            "over). Peak RSS: os.wait4's ru_maxrss of the timed runs at the largest size, its",
            f"floor the harness's own high-water mark ({floor:.0f} MB); peak / file: over the",
            "registry file of that size. The machine was shared (other jobs, load average",
            f"{load} at the end): absolute times move, the exponents are ratios from one run.",
            "",
            *table(curves, data),
            "",
            *(run.machine(runs, os.getloadavg())[:4]),
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--make"]:
        make(Path(argv[1]), int(argv[2]), argv[3] == "full")
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="10k,100k,1M", help="2 or 3 sizes, e.g. 10k,100k,1M")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--paths", default="", help="comma-separated subset of the path names")
    p.add_argument("--work", type=Path, default=None, help="keep inputs here (default: temp)")
    p.add_argument("--output", default=str(HERE / "GROWTH.md"), help="'-': print only")
    args = p.parse_args(argv)
    sizes = sorted(parse_size(s) for s in args.sizes.split(","))
    wanted = {s.strip() for s in args.paths.split(",") if s.strip()}
    cases = [c for c in CASES if not wanted or c.name in wanted]
    with tempfile.TemporaryDirectory(prefix="extid-growth-") as tmp:
        work = args.work or Path(tmp)
        data = {n: work / "data" / label(n) for n in sizes}
        for n, d in data.items():
            if not (d / "state" / MAPPING).exists():  # in a child: this process stays small
                print(f"generating {d}", file=sys.stderr)
                kind = "big" if n in sorted(data)[2:] else "full"
                subprocess.run(
                    [sys.executable, __file__, "--make", str(d), str(n), kind], check=True
                )
        text = report(measure(cases, data, work / "run", args.runs), data, args.runs, argv)
    print(text)
    if args.output != "-":
        Path(args.output).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
