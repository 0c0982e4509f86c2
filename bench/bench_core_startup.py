"""``trainmaster --version`` and ``--help`` against a bare ``python -c pass``.

Run: ``python bench/bench_core_startup.py [--repeat N]`` (default 40).

Each command runs ``--repeat`` times, interleaved with the baseline so that
noise hits all of them alike; the figure is the median wall time of a fresh
process. Then ``PYTHONPROFILEIMPORTTIME=1`` (what ``-X importtime`` sets)
lists every module each command imports, to check that neither ``requests``
nor ``yaml`` is among them.

Bars (issue 2): each ≤ 100 ms over bare Python; no requests, no yaml. Exit status 1 if a bar fails.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BAR_MS = 100.0
FORBIDDEN = ("requests", "yaml")


def trainmaster_command() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m trainmaster``."""
    script = Path(sys.executable).with_name("trainmaster")
    return [str(script)] if script.exists() else [sys.executable, "-m", "trainmaster"]


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def imported_modules(cmd: list[str]) -> set[str]:
    """Top-level names of every module ``cmd`` imports (from the import-time profile on stderr)."""
    env = dict(os.environ, PYTHONPROFILEIMPORTTIME="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "package":  # the header line
                names.add(name.split(".")[0])
    return names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=40)
    args = parser.parse_args()
    tm = trainmaster_command()
    commands = {"python -c pass": [sys.executable, "-c", "pass"],
                "trainmaster --version": [*tm, "--version"],
                "trainmaster --help": [*tm, "--help"]}
    for cmd in commands.values():  # warm the page cache and the .pyc files
        wall(cmd)
    samples: dict[str, list[float]] = {label: [] for label in commands}
    for _ in range(args.repeat):
        for label, cmd in commands.items():
            samples[label].append(wall(cmd))
    median = {label: statistics.median(s) * 1000 for label, s in samples.items()}
    base = median["python -c pass"]

    ok = True
    print(f"startup, median of {args.repeat} fresh processes ({' '.join(tm)})")
    print(f"  {'python -c pass':<24} {base:7.1f} ms  baseline 1.00×")
    for label in ("trainmaster --version", "trainmaster --help"):
        over = median[label] - base
        imports = imported_modules(commands[label])
        bad = [name for name in FORBIDDEN if name in imports]
        passed = over <= BAR_MS and not bad
        ok &= passed
        print(f"  {label:<24} {median[label]:7.1f} ms  {median[label] / base:.2f}×  +{over:.1f} ms over bare python "
              f"(bar ≤ {BAR_MS:.0f} ms); {len(imports)} top-level modules, "
              f"{'imports ' + ', '.join(bad) if bad else 'no requests, no yaml'}  {'PASS' if passed else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
