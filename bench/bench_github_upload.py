"""Benchmark: peak RSS of the GitHub client while uploading a 1 GiB release asset.

The GitHub fake runs as its own process (``python -m tests.fakes.github --discard-uploads``, so it
keeps only the digest of what it receives). Two client processes run against it in the same run:

* **baseline**: imports the client, creates a draft release and uploads a 1 KiB asset;
* **upload**: the same, with a 1 GiB asset.

Each prints its own ``ru_maxrss``. The upload must stay under 64 MiB of peak RSS, and the report
gives the ratio and the difference to the baseline (a streamed upload costs almost nothing extra).

Run from the repository root::

    PYTHONPATH=src:plugins python bench/bench_github_upload.py [--size-mib 1024]

Exit status 0 when the limit holds, 1 otherwise. Linux/macOS (``resource`` module).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT_MIB = 64.0


def _peak_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def child(url: str, token: str, path: Path) -> None:
    """Create a draft release and stream ``path`` into it; print a JSON line with the peak RSS."""
    from trainmaster_github.client import GitHubClient

    client = GitHubClient("acme/app", token, api_url=url)
    rel = client.call(
        "POST",
        f"{client.repo_path}/releases",
        ok=(201,),
        what="create the draft",
        json={"tag_name": f"bench-{os.getpid()}", "draft": True},
    )
    started = time.perf_counter()
    asset = client.upload_asset(
        rel["upload_url"], path.name, path, content_type="application/octet-stream", recover=lambda: None
    )
    elapsed = time.perf_counter() - started
    print(
        json.dumps(
            {
                "peak_mib": round(_peak_mib(), 1),
                "size": asset["size"],
                "seconds": round(elapsed, 2),
                "digest": asset.get("digest"),
            }
        ),
        flush=True,
    )


def _make_file(path: Path, size: int) -> None:
    block = os.urandom(1024 * 1024)
    with path.open("wb") as fh:
        left = size
        while left > 0:
            fh.write(block[: min(left, len(block))])
            left -= len(block)


def _run_child(url: str, token: str, path: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "plugins")])}
    out = subprocess.run(
        [sys.executable, __file__, "--child", url, token, str(path)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--child", nargs=3, metavar=("URL", "TOKEN", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], Path(args.child[2]))
        return 0
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.github", "--port", "0", "--discard-uploads"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert fake.stdout is not None
        ready = fake.stdout.readline().split()
        url = ready[2]
        with tempfile.TemporaryDirectory() as tmp:
            small, big = Path(tmp) / "small.bin", Path(tmp) / "big.bin"
            _make_file(small, 1024)
            _make_file(big, args.size_mib * 1024 * 1024)
            baseline = _run_child(url, "test-token", small)
            upload = _run_child(url, "test-token", big)
    finally:
        fake.terminate()
        fake.wait(timeout=10)
    ratio = upload["peak_mib"] / baseline["peak_mib"]
    ok = upload["peak_mib"] <= LIMIT_MIB and upload["size"] == args.size_mib * 1024 * 1024
    print(f"baseline (1 KiB asset):      peak RSS {baseline['peak_mib']:.1f} MiB")
    print(
        f"upload ({args.size_mib} MiB asset): peak RSS {upload['peak_mib']:.1f} MiB, "
        f"{upload['seconds']:.1f} s ({args.size_mib / max(upload['seconds'], 1e-9):.0f} MiB/s)"
    )
    print(
        f"ratio {ratio:.2f}x baseline, {upload['peak_mib'] - baseline['peak_mib']:+.1f} MiB; "
        f"limit {LIMIT_MIB:.0f} MiB: {'ok' if ok else 'EXCEEDED'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
