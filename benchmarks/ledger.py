"""Allocation latency through the remote ledger (a local bare repository as the remote)
beside a local allocation, and the cost of contention at several lease sizes.

    python benchmarks/ledger.py                      # writes benchmarks/LEDGER.md
    python benchmarks/ledger.py --runs 5 --output -  # smoke run, prints only

Latency: one process, `ExternalIDMapper.allocate` per new task, timed per call after one
warm-up call (the first call reads the registry and the config); median and p95 of `--runs`
calls. Transports: the plain path and file:// (git daemon is left out: it needs a port).
Contention: `--racers` processes in as many clones allocate `--per-racer` numbers each, all at
once; wall time, rejected pushes, and the numbers checked unique.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from extid.mapper import ExternalIDMapper  # noqa: E402

STATE = Path(".claude") / "state"
RACER = """
import sys, time
from extid.ledger import wire
rejected = 0
push = wire.push
def counted(*args):
    global rejected
    reason = push(*args)
    rejected += reason is not None
    return reason
wire.push = counted
from extid.mapper import ExternalIDMapper
m = ExternalIDMapper(sys.argv[1])
got = [m.allocate(f"TASK-{sys.argv[2]}-{i:04x}", "jira", "PROJ") for i in range(int(sys.argv[3]))]
print(rejected, *got)
"""


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def remote(work: Path, name: str) -> Path:
    bare = work / f"{name}.git"
    git(work, "init", "-q", "--bare", "-b", "main", str(bare))
    seed = work / f"{name}-seed"
    git(work, "init", "-q", "-b", "main", str(seed))
    git(seed, "commit", "-q", "--allow-empty", "-m", "root")
    git(seed, "push", "-q", str(bare), "main")
    return bare


def clone(work: Path, url: str, name: str, lease: int | None) -> Path:
    path = work / name
    git(work, "clone", "-q", url, name)
    if lease is not None:
        git(path, "config", "extid.remote", "origin")
        git(path, "config", "extid.leaseSize", str(lease))
        git(path, "config", "extid.ledgerTimeout", "300")
    return path


def cpu() -> float:
    """CPU seconds of this process and its finished children (git and what git ran): the
    figure a loaded machine inflates least."""
    own, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def latency(path: Path, runs: int, tag: str) -> tuple[list[float], float]:
    """Wall time of each call, and the mean CPU time per call."""
    mapper = ExternalIDMapper(path / STATE)
    mapper.allocate(f"TASK-{tag}-ffff", "jira", "PROJ")  # warm-up: registry, config
    times = []
    cpu_start = cpu()
    for i in range(runs):
        start = time.perf_counter()
        mapper.allocate(f"TASK-{tag}-{i:04x}", "jira", "PROJ")
        times.append(time.perf_counter() - start)
    return times, (cpu() - cpu_start) / runs


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def contention(work: Path, lease: int, racers: int, per: int) -> tuple[float, int, bool]:
    bare = remote(work, f"race{lease}")
    paths = [clone(work, f"file://{bare}", f"race{lease}-{n}", lease) for n in range(racers)]
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(p / STATE), f"R{n}", str(per)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for n, p in enumerate(paths)
    ]
    outs = [proc.communicate()[0].split() for proc in procs]
    wall = time.perf_counter() - start
    rejected = sum(int(out[0]) for out in outs)
    numbers = [x for out in outs for x in out[1:]]
    return wall, rejected, len(numbers) == len(set(numbers)) == racers * per


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--racers", type=int, default=4)
    parser.add_argument("--per-racer", type=int, default=20)
    parser.add_argument("--output", default=str(REPO / "benchmarks" / "LEDGER.md"))
    args = parser.parse_args()
    rows, races = [], []
    with tempfile.TemporaryDirectory(prefix="extid-ledger-bench-") as tmp:
        work = Path(tmp)
        os.environ.setdefault("GIT_CONFIG_NOSYSTEM", "1")
        bare = remote(work, "origin")
        cases = [("local (no remote ledger)", str(bare), None)]
        for lease in (1, 5, 20):
            cases += [(f"plain path, lease {lease}", str(bare), lease)]
        cases += [
            ("file://, lease 1", f"file://{bare}", 1),
            ("file://, lease 20", f"file://{bare}", 20),
        ]
        for n, (label, url, lease) in enumerate(cases):
            times, per_call = latency(clone(work, url, f"c{n}", lease), args.runs, f"L{n}")
            rows.append((label, statistics.median(times), p95(times), per_call))
        for lease in (1, 5, 20):
            races.append((lease, *contention(work, lease, args.racers, args.per_racer)))
    load = os.getloadavg()[0]
    lines = [
        "# Remote ledger: allocation latency",
        "",
        "Produced by `python benchmarks/ledger.py` (method in its docstring): one process,",
        f"{args.runs} allocations per case after a warm-up call, a bare repository in a temporary",
        f"directory as the remote; load average {load:.1f} on {os.cpu_count()} CPUs at the end.",
        "",
        "| case | median per allocation | p95 | CPU per allocation (with git's) |",
        "|---|---|---|---|",
        *(
            f"| {label} | {med * 1e3:.1f} ms | {high * 1e3:.1f} ms | {c * 1e3:.1f} ms |"
            for label, med, high, c in rows
        ),
        "",
        f"Contention: {args.racers} clones, one process each, {args.per_racer} numbers each, all",
        "at once through file://.",
        "",
        "| lease | wall time | rejected pushes (retried) | numbers unique |",
        "|---|---|---|---|",
        *(f"| {lease} | {wall:.2f} s | {rej} | {ok} |" for lease, wall, rej, ok in races),
        "",
    ]
    text = "\n".join(lines)
    if args.output == "-":
        print(text)
    else:
        Path(args.output).write_text(text, "utf-8")
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
