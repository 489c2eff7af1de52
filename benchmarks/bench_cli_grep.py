"""`syncdesk log --search W --limit 50` against `grep -i W FILE | tail -50` (issue 17: the CLI
beats grep), whole processes timed by wall clock, the commands alternating round by round.

    python benchmarks/bench_cli_grep.py --db STORE --text STORE.csv \
        [--rounds 11] [--syncdesk PATH]... [WORD]...

STORE.csv is the same rows as text (`syncdesk --db STORE log --csv > STORE.csv`). Each
--syncdesk is a console script to time (e.g. this checkout's and main's venvs); the default is
`syncdesk` on PATH. Words default to a rare one grep skims (invalid_grant), a middling one
(offline) and a common one (exported). Prints the median and every run, and the machine's
load before and after each word. It prints figures; it never fails on them.

Run it as a user runs syncdesk, with Python's bytecode cache: under PYTHONDONTWRITEBYTECODE=1
every run compiles the project's modules from source (~40 ms more). To keep a checkout you may
not write to clean, point the cache elsewhere: `env -u PYTHONDONTWRITEBYTECODE
PYTHONPYCACHEPREFIX=/tmp/pyc python benchmarks/bench_cli_grep.py ...`.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import time


def wall(argv: list[str] | str) -> float:
    start = time.perf_counter()
    subprocess.run(argv, shell=isinstance(argv, str), stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def load() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", required=True, help="the store")
    parser.add_argument("--text", required=True, help="the same rows as a text file")
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--syncdesk", action="append", help="a console script (repeatable)")
    parser.add_argument("words", nargs="*", default=["invalid_grant", "offline", "exported"])
    args = parser.parse_args()
    programs = args.syncdesk or ["syncdesk"]
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC, {args.rounds} rounds")
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print("PYTHONDONTWRITEBYTECODE is set: each run compiles syncdesk's modules from source")
    for word in args.words:
        grep = f"grep -i {shlex.quote(word)} {shlex.quote(args.text)} | tail -50"
        runs: dict[str, list[float]] = {"grep": [], **{p: [] for p in programs}}
        before = load()
        wall(grep)  # the text file into the page cache
        for _ in range(args.rounds):
            runs["grep"].append(wall(grep))
            for program in programs:
                log = [program, "--db", args.db, "log", "--search", word, "--limit", "50"]
                runs[program].append(wall(log))
        print(f"{word} (load {before} -> {load()})")
        for name, values in runs.items():
            every = " ".join(f"{v:.3f}" for v in values)
            print(f"  {name:36} median {statistics.median(values):.3f} s  ({every})")


if __name__ == "__main__":
    main()
