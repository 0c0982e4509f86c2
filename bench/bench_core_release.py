"""``trainmaster release create`` of a large artefact against ``openssl dgst -sha256`` on the same file.

Run: ``python bench/bench_core_release.py [--size-mib N]`` (default 512, or $TRAINMASTER_BENCH_SIZE_MIB).

The artefact is random bytes written into a temporary directory on the same
filesystem as the project (default: under $TMPDIR; ``--dir`` to choose), and
deleted afterwards. All commands run with a warm page cache (openssl once
first, unmeasured), interleaved, ``--repeat`` (5) times each. The ratio is of
the best runs (the ones least disturbed by other work on the machine, which
makes it robust on a noisy machine); medians and CPU time (user + system, from
``wait4``) are printed beside them. A second baseline,
``dd if=F of=G bs=4M conv=fsync``, shows the disk's own limit for a copy that
ends with an fsync. Every ``release create``
gets a fresh project and state directory, so each one hashes, copies and
fsyncs the whole file (a second create of the same release would be a no-op);
a ``release create`` of a 1-byte package, also interleaved, shows the fixed cost
(start-up, config, plugins, ledger). Bytecode is compiled by an unmeasured first
run (with ``PYTHONDONTWRITEBYTECODE`` unset), as an installed package has it.
Peak RSS is the trainmaster process's own ``ru_maxrss`` from ``wait4``.

Bars ("One shape" 10): time ≤ 1.3× openssl; peak RSS ≤ 64 MiB. Exit status 1 if a bar fails.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHUNK = 8 << 20
BAR_RATIO, BAR_RSS_MIB = 1.3, 64.0


def trainmaster_command() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m trainmaster``."""
    script = Path(sys.executable).with_name("trainmaster")
    return [str(script)] if script.exists() else [sys.executable, "-m", "trainmaster"]


def make_artefact(path: Path, size: int) -> None:
    with path.open("wb") as f:
        left = size
        while left:
            n = min(CHUNK, left)
            f.write(os.urandom(n))
            left -= n
        f.flush()
        os.fsync(f.fileno())


class Run:
    """One process: wall and CPU seconds (user + system), peak RSS in MiB."""

    def __init__(self, wall: float, cpu: float, rss: float) -> None:
        self.wall, self.cpu, self.rss = wall, cpu, rss


ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(cmd: list[str], cwd: Path) -> Run:
    """Run ``cmd``; return its wall time, CPU time and peak RSS."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}:\n{err}")
    return Run(elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)  # Linux: KiB


def release_once(work: Path, artefact: Path, run: int | str) -> Run:
    project = work / f"project-{run}"
    project.mkdir()
    (project / "trainmaster.yaml").write_text(
        f"project: bench\npackages: {{app: {artefact}}}\ntrain:\n  - name: dev\n    deploy: 'true'\n")
    try:
        return timed([*trainmaster_command(), "release", "create", "1.0.0"], project)
    finally:
        shutil.rmtree(project, ignore_errors=True)


def dd_once(work: Path, artefact: Path) -> Run:
    copy = work / "dd-copy.bin"
    try:
        return timed(["dd", f"if={artefact}", f"of={copy}", "bs=4M", "conv=fsync"], work)
    finally:
        copy.unlink(missing_ok=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=int(os.environ.get("TRAINMASTER_BENCH_SIZE_MIB", "512")))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", default=os.environ.get("TMPDIR"), help="where to write the artefact")
    args = parser.parse_args()
    size = args.size_mib << 20

    with tempfile.TemporaryDirectory(prefix="tm-bench-release-", dir=args.dir) as tmp:
        work = Path(tmp)
        artefact, tiny = work / "app.bin", work / "tiny.bin"
        make_artefact(artefact, size)
        tiny.write_bytes(b"x")
        openssl = ["openssl", "dgst", "-sha256", str(artefact)]
        timed(openssl, work)  # warm the cache
        release_once(work, tiny, "warm-up")  # and write the bytecode
        hashes, copies, runs, fixed = [], [], [], []
        for i in range(args.repeat):  # interleaved, so that noise hits all of them alike
            hashes.append(timed(openssl, work))
            copies.append(dd_once(work, artefact))
            runs.append(release_once(work, artefact, i))
            fixed.append(release_once(work, tiny, f"tiny-{i}"))
    baseline = min(r.wall for r in hashes)
    base_median = statistics.median(r.wall for r in hashes)
    best = min(r.wall for r in runs)
    rss = max(r.rss for r in runs)
    ratio = best / baseline

    def line(label: str, found: list[Run], note: str, rate: bool = True) -> str:
        wall, med = min(r.wall for r in found), statistics.median(r.wall for r in found)
        cpu = statistics.median(r.cpu for r in found)
        speed = f"({args.size_mib / wall:5.0f} MiB/s)" if rate else " " * 15
        return (f"  {label:<27}{wall:7.3f} s  {speed}  {wall / baseline:.2f}×  "
                f"| median {med:6.3f} s  {med / base_median:.2f}×  | CPU {cpu:6.3f} s  {note}")

    print(f"release create of {args.size_mib} MiB ({args.repeat} runs each, interleaved, warm cache, fsync "
          f"included; best and median wall time, median CPU; load average {os.getloadavg()[0]:.1f})")
    print(line("openssl dgst -sha256", hashes, "baseline"))
    print(line("dd bs=4M conv=fsync", copies, "(the disk's limit for a copy)"))
    print(line("trainmaster release create", runs,
               f"ratio {ratio:.2f}× (bar ≤ {BAR_RATIO}×)  {'PASS' if ratio <= BAR_RATIO else 'FAIL'}"))
    print(line("  of a 1-byte package", fixed, "(the fixed cost: start-up, config, plugins, ledger)", rate=False))
    print(f"  peak RSS of trainmaster   {rss:8.1f} MiB (bar ≤ {BAR_RSS_MIB:.0f} MiB)  "
          f"{'PASS' if rss <= BAR_RSS_MIB else 'FAIL'}")
    return 0 if ratio <= BAR_RATIO and rss <= BAR_RSS_MIB else 1


if __name__ == "__main__":
    sys.exit(main())
