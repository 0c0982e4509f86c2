"""Push a 3 GiB package to the Octopus fake: trainmaster's peak RSS and time against ``curl -F``.

The fake runs as its own process (``python -m tests.fakes.octopus --discard-packages``), hashing
each upload with SHA-1 and discarding the bytes. The package is a sparse file in a temp directory
(deleted afterwards). trainmaster pushes it through the adapter (package lookup, then the streamed
multipart upload with SHA-1 and SHA-256 computed in the same pass) in a child process that
reports its own peak RSS; curl uploads the same file with ``-F``. Each side runs twice (alternating)
and the faster run counts. The bar: peak RSS < 64 MiB and time ≤ 1.3 × curl.

Run: ``python bench/bench_octopus_upload.py [SIZE_GIB]`` (default 3).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEY = "API-TESTKEY0000000000000000000"

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
sys.path[:0] = [sys.argv[4], sys.argv[4] + "/src", sys.argv[4] + "/plugins"]
from trainmaster_octopus._resources import Octopus
from trainmaster_octopus._wrap import FeedFile
from trainmaster_octopus.client import OctopusClient

url, path, version, pinned = sys.argv[1], Path(sys.argv[2]), sys.argv[3], sys.argv[5]
client = OctopusClient(url, api_key="KEY_PLACEHOLDER", space="Spaces-1", timeout=(10, 600))
# a .zip is pushed as it is (not wrapped); its pinned sha256 was verified by the core before the push
feed = FeedFile("app", "App", version, f"App.{version}.zip", path, False, pinned)
start = time.perf_counter()
state = Octopus(client).ensure_package(feed)
elapsed = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"state": state.state, "seconds": elapsed, "rss": rss, "sha1": state.sha1, "calls": client.calls}))
""".replace("KEY_PLACEHOLDER", KEY)


def start_fake() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.fakes.octopus", "--port", "0", "--discard-packages",
                             "--api-key", KEY], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    if not line or line[0] != "READY":
        proc.kill()
        raise SystemExit("the Octopus fake did not start")
    return proc, line[2]


def run_trainmaster(url: str, path: Path, version: str, pinned: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", CHILD, url, str(path), version, str(ROOT), pinned],
                         capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise SystemExit(f"trainmaster upload failed: {out.stderr.strip()[-2000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["state"] == "created", result
    return result


def run_curl(url: str, path: Path, version: str) -> float:
    start = time.perf_counter()
    out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", f"X-Octopus-ApiKey: {KEY}",
                          "-F", f"fileToUpload=@{path};filename=App.{version}.zip",
                          f"{url}/api/Spaces-1/packages/raw?overwriteMode=FailIfExists"],
                         capture_output=True, text=True, timeout=1800)
    elapsed = time.perf_counter() - start
    if out.stdout.strip() not in ("200", "201"):
        raise SystemExit(f"curl upload failed: {out.stdout} {out.stderr}")
    return elapsed


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def main() -> None:
    size = int(float(sys.argv[1] if len(sys.argv) > 1 else 3) * (1 << 30))
    with tempfile.TemporaryDirectory(prefix="trainmaster-bench-") as tmp:
        free = shutil.disk_usage(tmp).free
        print(f"free disk in {tmp}: {free / (1 << 30):.1f} GiB (the package is sparse and uses almost none)")
        path = Path(tmp) / "package.zip"
        with open(path, "wb") as fh:
            fh.truncate(size)
        pinned = "sha256:" + _sha256(path)  # what `release create` recorded (not timed)
        fake, url = start_fake()
        try:
            tm_runs, curl_runs, rss = [], [], 0.0
            for i in range(2):
                result = run_trainmaster(url, path, f"1.0.{i}", pinned)
                tm_runs.append(result["seconds"])
                rss = max(rss, result["rss"])
                curl_runs.append(run_curl(url, path, f"2.0.{i}"))
        finally:
            fake.terminate()
            fake.wait(timeout=30)
        os.remove(path)
    tm, curl = min(tm_runs), min(curl_runs)
    ratio = tm / curl
    print(f"package: {size / (1 << 30):.2f} GiB")
    runs = ", ".join(f"{t:.2f}" for t in tm_runs)
    print(f"trainmaster: {tm:.2f} s (runs {runs}), peak RSS {rss / (1 << 20):.1f} MiB")
    print(f"curl -F    : {curl:.2f} s (runs {', '.join(f'{t:.2f}' for t in curl_runs)})")
    print(f"ratio trainmaster/curl: {ratio:.2f} (bar ≤ 1.30); peak RSS bar < 64 MiB")
    ok = rss < 64 * (1 << 20) and ratio <= 1.3
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
