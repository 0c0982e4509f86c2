"""``trainmaster --version`` and ``--help`` against a bare ``python -c pass``, from a non-editable install.

Run: ``python bench/bench_core_startup.py [--repeat N]`` (default 20).

What users run is a wheel, so that is what is measured: when this interpreter's
``trainmaster`` is an editable install (or missing), a wheel of this checkout is
built and installed into a temporary venv first (``pip wheel`` + ``pip install``;
the dependencies come from the usual index), and the baseline is that venv's
own interpreter. Each command runs ``--repeat`` times, interleaved with the
baseline so that noise hits all of them alike; the figure is the median wall
time of a fresh process. Then ``PYTHONPROFILEIMPORTTIME=1`` (what ``-X
importtime`` sets) lists every module each command imports, to check that
neither ``requests`` nor ``yaml`` is among them.

Bars (issue 2, "One shape" 9): each ≤ 100 ms over bare Python (median); no requests,
no yaml. Exit status 1 if a bar fails.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BAR_MS = 100.0
FORBIDDEN = ("requests", "yaml")


ROOT = Path(__file__).resolve().parent.parent


def installed_kind(python: str) -> str:
    """``wheel``, ``editable`` or ``missing``: how ``trainmaster`` is installed for ``python``."""
    probe = ("import json, importlib.metadata as m\n"
             "try: d = m.distribution('trainmaster')\n"
             "except m.PackageNotFoundError: print('missing'); raise SystemExit\n"
             "u = json.loads(d.read_text('direct_url.json') or '{}')\n"
             "print('editable' if u.get('dir_info', {}).get('editable') else 'wheel')")
    return subprocess.run([python, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()


def wheel_venv(tmp: Path) -> str:
    """Build a wheel of this checkout and install it into a fresh venv under ``tmp``; return its python."""
    quiet = {"stdout": subprocess.DEVNULL, "check": True}
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp / "dist"), str(ROOT)],
                   **quiet)  # type: ignore[call-overload]
    subprocess.run([sys.executable, "-m", "venv", str(tmp / "venv")], **quiet)  # type: ignore[call-overload]
    python = str(tmp / "venv" / "bin" / "python")
    wheels = [str(w) for w in (tmp / "dist").glob("trainmaster-*.whl")]
    subprocess.run([python, "-m", "pip", "install", "-q", *wheels], **quiet)  # type: ignore[call-overload]
    return python


def trainmaster_command(python: str) -> list[str]:
    """The installed console script next to ``python``, else ``python -m trainmaster``."""
    script = Path(python).with_name("trainmaster")
    return [str(script)] if script.exists() else [python, "-m", "trainmaster"]


def wall(cmd: list[str]) -> float:
    return run(cmd)[0]


def run(cmd: list[str]) -> tuple[float, float]:
    """Run ``cmd``; return (wall seconds, CPU seconds user + system of that process)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed")
    return elapsed, usage.ru_utime + usage.ru_stime


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
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tm-bench-startup-") as tmp:
        python, how = sys.executable, installed_kind(sys.executable)
        if how != "wheel":
            print(f"trainmaster is {how} for {python}: building a wheel into a temporary venv")
            python = wheel_venv(Path(tmp))
        return measure(python, args.repeat)


def measure(python: str, repeat: int) -> int:
    tm = trainmaster_command(python)
    commands = {"python -c pass": [python, "-c", "pass"],
                "trainmaster --version": [*tm, "--version"],
                "trainmaster --help": [*tm, "--help"]}
    for cmd in commands.values():  # warm the page cache and the .pyc files
        wall(cmd)
    samples: dict[str, list[tuple[float, float]]] = {label: [] for label in commands}
    for _ in range(repeat):
        for label, cmd in commands.items():
            samples[label].append(run(cmd))
    median = {label: statistics.median(w for w, _ in s) * 1000 for label, s in samples.items()}
    cpu = {label: statistics.median(c for _, c in s) * 1000 for label, s in samples.items()}
    base, base_cpu = median["python -c pass"], cpu["python -c pass"]

    ok = True
    print(f"startup, median of {repeat} fresh processes ({' '.join(tm)}, {installed_kind(python)} install; "
          f"load average {os.getloadavg()[0]:.1f})")
    print(f"  {'python -c pass':<24} {base:7.1f} ms  baseline 1.00×  (CPU {base_cpu:.1f} ms)")
    for label in ("trainmaster --version", "trainmaster --help"):
        over = median[label] - base
        imports = imported_modules(commands[label])
        bad = [name for name in FORBIDDEN if name in imports]
        passed = over <= BAR_MS and not bad
        ok &= passed
        print(f"  {label:<24} {median[label]:7.1f} ms  {median[label] / base:.2f}×  +{over:.1f} ms over bare python "
              f"(bar ≤ {BAR_MS:.0f} ms; CPU +{cpu[label] - base_cpu:.1f} ms); {len(imports)} top-level modules, "
              f"{'imports ' + ', '.join(bad) if bad else 'no requests, no yaml'}  {'PASS' if passed else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
