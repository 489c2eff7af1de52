"""Time `syncdesk init --orgs N --log-rows M` from this checkout and, interleaved, from another.

    python benchmarks/bench_build.py [--baseline ../main] [--rounds 3] [--orgs 5000]
                                     [--log-rows 1000000] [--seed 1] [--dir /tmp]

Each round builds a fresh store with each checkout in turn (the baseline first), running the
`syncdesk` command with PYTHONPATH set to the checkout, and prints its wall time, user and
system CPU, peak RSS (the child's own, from wait4) and the load average before and after. The
machine is shared: compare medians of interleaved runs, and read the CPU as well as the wall
time (on a busy machine the CPU decides; docs/benchmarks.md, "Session 3"). It prints figures
and never fails on them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def build(checkout: Path, store: Path, args: argparse.Namespace) -> tuple[float, float, float, int]:
    """Wall seconds, user and system CPU seconds, peak RSS in MB of one build."""
    for leftover in store.parent.glob(store.name + "*"):
        leftover.unlink()
    command = [
        shutil.which("syncdesk") or "syncdesk",
        "--db",
        str(store),
        "init",
        "--orgs",
        str(args.orgs),
        "--log-rows",
        str(args.log_rows),
        "--seed",
        str(args.seed),
    ]
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        code = os.waitstatus_to_exitcode(status)
        sys.exit(f"{checkout}: the build failed (exit {code}); run {' '.join(command)} to see why")
    return wall, usage.ru_utime, usage.ru_stime, usage.ru_maxrss // 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, help="another checkout to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--orgs", type=int, default=5000)
    parser.add_argument("--log-rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", type=Path, default=Path("/tmp"), help="where the stores go")
    args = parser.parse_args()
    checkouts = {"this": ROOT}
    if args.baseline:
        checkouts = {"baseline": args.baseline.resolve(), **checkouts}
    walls: dict[str, list[float]] = {name: [] for name in checkouts}
    cpus: dict[str, list[float]] = {name: [] for name in checkouts}
    for round_ in range(1, args.rounds + 1):
        for name, checkout in checkouts.items():
            before = load()
            wall, user, system, rss = build(checkout, args.dir / f"bench-build-{name}.db", args)
            walls[name].append(wall)
            cpus[name].append(user + system)
            print(
                f"{time.strftime('%H:%M:%S')} round {round_} {name:8s} {wall:6.2f} s wall "
                f"{user:6.2f} user {system:5.2f} sys {rss:4d} MB  load {before} -> {load()}",
                flush=True,
            )
    for name in checkouts:
        print(
            f"{name:8s} median {statistics.median(walls[name]):6.2f} s wall, "
            f"{statistics.median(cpus[name]):6.2f} s CPU over {args.rounds} builds"
        )
    for leftover in args.dir.glob("bench-build-*.db*"):
        leftover.unlink()


if __name__ == "__main__":
    main()
