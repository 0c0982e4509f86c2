"""The store guard's check after a deployment's commands, against the check before them.

Run: ``python bench/bench_core_store_guard.py [--size-mib N] [--repeat 5]`` (default 512, or
$TRAINMASTER_BENCH_SIZE_MIB).

In-process, warm page cache, interleaved, best of ``--repeat``: ``Store.verify`` (the re-hash
every deployment makes before its commands: the baseline) and ``StoreGuard.finish()`` after
``StoreGuard.workspace`` gave the blob by read-only hard link (``TRAINMASTER_REFLINK=0``): the
re-hash of every linked blob. Printed beside them: making the workspace (a failed reflink
attempt plus a hard link) and one ``os.stat`` (what a size/mtime/ctime/inode check would cost).

Bar (issue 10, item 4): the check after ≤ 1.3× the check before (the same hash: ~1.0×). Exit status 1 if it fails.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

BAR_RATIO = 1.3


def main() -> int:
    from trainmaster.interfaces import PackagePlan
    from trainmaster.model import Package
    from trainmaster.store import Store
    from trainmaster.store_guard import StoreGuard

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=int(os.environ.get("TRAINMASTER_BENCH_SIZE_MIB", "512")))
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "app.bin"
        with source.open("wb") as fh:
            for _ in range(args.size_mib):
                fh.write(os.urandom(1 << 20))
        store = Store(Path(tmp) / "state" / "store")
        staged = store.stage(source)
        stored = store.commit(staged)
        pkg = Package("app", "app.bin", staged.size, staged.digest)
        before, after, made = [], [], []
        for run in range(args.repeat):
            start = time.perf_counter()
            store.verify(pkg.digest)
            before.append(time.perf_counter() - start)
            guard = StoreGuard(store, {"TRAINMASTER_REFLINK": "0"})
            start = time.perf_counter()
            guard.workspace(Path(tmp) / "state", run + 1, [PackagePlan(pkg, stored, "deploy", "")])
            made.append(time.perf_counter() - start)
            start = time.perf_counter()
            assert guard.finish() == {}
            after.append(time.perf_counter() - start)
        start = time.perf_counter()
        for _ in range(1000):
            os.stat(stored)
        one_stat = (time.perf_counter() - start) / 1000
    ratio = min(after) / min(before)
    print(f"store guard, {args.size_mib} MiB blob, best of {args.repeat}:")
    print(f"  check before the commands (Store.verify)   {min(before):.3f} s")
    print(f"  check after the commands (re-hash)         {min(after):.3f} s   {ratio:.2f}x")
    print(f"  workspace (reflink attempt + hard link)    {min(made) * 1000:.2f} ms")
    print(f"  one os.stat                                {one_stat * 1e6:.1f} µs")
    ok = ratio <= BAR_RATIO
    print(f"{'PASS' if ok else 'FAIL'}: after/before {ratio:.2f}x (bar ≤ {BAR_RATIO}x)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
