"""Where does an `extid` command spend its time? (Not named profile.py: that would shadow
the stdlib module cProfile imports.)

    python benchmarks/profile_extid.py format --check benchmarks/data/state-100k/FILE
    python benchmarks/profile_extid.py --sort tottime --top 15 check FILE
    python benchmarks/profile_extid.py --imports check benchmarks/data/state-tiny/FILE

(options of this script first, then the extid command line; FILE: external_id_mapping.json)

By default runs `extid ARGS...` in this process under cProfile (imports included, since they
happen inside the profiled call) and prints the top functions. `--imports` instead runs it in a
child with `python -X importtime` and lists the slowest imports, which is what matters for the
start-up rows. Commands that write (format, merge-driver) write for real: profile copies.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import subprocess
import sys
import time


def profile_call(args: list[str], sort: str, top: int, out: str | None) -> int:
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    try:
        from extid.main import main

        rc = main(args)
    except SystemExit as e:  # argparse exits for --version and usage errors
        rc = e.code if isinstance(e.code, int) else 1
    finally:
        profiler.disable()
    wall = time.perf_counter() - start
    if out:
        profiler.dump_stats(out)
    buf = io.StringIO()
    pstats.Stats(profiler, stream=buf).strip_dirs().sort_stats(sort).print_stats(top)
    print(
        f"\nextid {' '.join(args)}: exit {rc}, {wall * 1000:.1f} ms under the profiler",
        file=sys.stderr,
    )
    sys.stderr.write(buf.getvalue())
    return 0


def import_times(args: list[str], top: int) -> int:
    """Slowest imports (cumulative and self, in microseconds) of one real start-up."""
    # Bytecode caching on, as users have it (see docs/benchmarks.md): one run to write the
    # .pyc files, then the measured one.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    argv = [sys.executable, "-X", "importtime", "-m", "extid", *args]
    subprocess.run(argv, capture_output=True, env=env)
    proc = subprocess.run(argv, capture_output=True, text=True, env=env)
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = (part.strip() for part in line[12:].split("|"))
        rows.append((int(cumulative_us), int(self_us), name))
    total = sum(r[1] for r in rows)
    print(
        f"extid {' '.join(args)}: exit {proc.returncode}; {len(rows)} modules, "
        f"{total / 1000:.1f} ms of imports in total (self times summed)"
    )
    print(f"{'cumulative ms':>14} {'self ms':>8}  module")
    for cumulative, self_us, name in sorted(rows, reverse=True)[:top]:
        print(f"{cumulative / 1000:14.1f} {self_us / 1000:8.1f}  {name}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="profile one extid command")
    p.add_argument("--sort", default="cumulative", help="pstats sort key (cumulative, tottime)")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--imports", action="store_true", help="show import times instead")
    p.add_argument("--out", help="also save the cProfile data here (for snakeviz etc.)")
    p.add_argument("extid_args", nargs=argparse.REMAINDER, help="the extid command line")
    args = p.parse_args(argv)
    cmd = args.extid_args[1:] if args.extid_args[:1] == ["--"] else args.extid_args
    if not cmd:
        p.error("give the extid command line, e.g. check FILE")
    if args.imports:
        return import_times(cmd, args.top)
    return profile_call(cmd, args.sort, args.top, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
