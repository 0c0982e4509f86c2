"""Push a 1 GiB package to the Octopus fake: ``trainmaster sync --to octopus`` against ``curl -F``.

The fake runs as its own process (``python -m tests.fakes.octopus --discard-packages``), hashing
each upload with SHA-1 and discarding the bytes. The package is a sparse file in a temp directory
(deleted afterwards), made a release (``release create``, not timed) in a project without
``publish:``. Timed side by side, alternating, best of ``--repeat``:

* ``trainmaster sync --to octopus`` — the whole command in a fresh process (start, config, ledger,
  package lookup, the streamed multipart upload with SHA-256 computed in the same pass (the SHA-1
  is the `Hash` Octopus answers with),
  the release), its peak RSS from ``wait4``;
* the push alone (the adapter's ``ensure_package`` of the store's file) in a child process, for the
  upload's own share;
* ``curl -F`` of the same file;
* bare Python: 20 lines of the standard library's ``http.client`` sending the same multipart body
  in 1 MiB blocks (no framework, no config, no ledger, no hash), the floor of a Python client here;
* the fixed cost: the same ``sync`` of a release whose package is 1 byte (start-up, config, ledger,
  the same Octopus calls), so the transfer's own ratio, (sync − fixed cost) / curl, shows too.

Bytecode is written by an unmeasured first run, as an installed package has it.

Octopus names a package by its SHA-1. ``release create`` records it with the stored file, in the same
pass as the pin and on a thread of its own (hook ``package_digests``), so the push hashes only the
pin while it sends. That moves work into ``release create``: the setup's first ``release create`` of
the 1 GiB file is timed and printed beside one in a project without ``octopus:`` (nothing recorded).

Printed: best and median wall time of each, the median CPU time (user + system, from ``wait4``:
steadier than wall time on a shared machine) of ``sync`` and ``curl``, the ratios of the best and
of the medians. The bar: best ≤ 1.1 × curl for ``sync`` (the goal of issue 11), peak RSS ≤ 64 MiB.

Run: ``python bench/bench_octopus_upload.py [SIZE_GIB] [--repeat N]`` (default 1 GiB, 5 runs).
"""

from __future__ import annotations

import json
import os
import statistics
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


BARE = r"""
import http.client, os, sys, uuid
url, path, version, key = sys.argv[1:5]
boundary = uuid.uuid4().hex
head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"fileToUpload\"; filename=\"App.{version}.zip\"\r\n"
        "Content-Type: application/octet-stream\r\n\r\n").encode()
tail = f"\r\n--{boundary}--\r\n".encode()
conn = http.client.HTTPConnection(url.split("//", 1)[1])
conn.putrequest("POST", "/api/Spaces-1/packages/raw?overwriteMode=FailIfExists")
for name, value in (("X-Octopus-ApiKey", key), ("Content-Type", f"multipart/form-data; boundary={boundary}"),
                    ("Content-Length", str(len(head) + os.path.getsize(path) + len(tail)))):
    conn.putheader(name, value)
conn.endheaders()
conn.send(head)
with open(path, "rb", buffering=0) as fh:
    while block := fh.read(1 << 20):
        conn.send(block)
conn.send(tail)
answer = conn.getresponse()
assert answer.status in (200, 201) and answer.read()
"""


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


def run_curl(url: str, path: Path, version: str) -> tuple[float, float]:
    """``curl -F`` of ``path``: (seconds, CPU seconds) of that process."""
    start = time.perf_counter()
    proc = subprocess.Popen(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", f"X-Octopus-ApiKey: {KEY}",
                             "-F", f"fileToUpload=@{path};filename=App.{version}.zip",
                             f"{url}/api/Spaces-1/packages/raw?overwriteMode=FailIfExists"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, _, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    out, err = proc.communicate()
    if out.strip() not in ("200", "201"):
        raise SystemExit(f"curl upload failed: {out} {err}")
    return elapsed, usage.ru_utime + usage.ru_stime


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


PROJECT = """\
project: MyApp
packages:
  app: package.zip
octopus:
  poll_interval: 1
  environments: {dev: Development}
defaults:
  target: octopus
train:
  - name: dev
"""

PLAIN = """\
project: MyApp
packages:
  app: package.zip
train:
  - name: dev
    deploy: "true"
"""


def project(tmp: Path, url: str) -> tuple[Path, dict[str, str]]:
    """A project whose release 1.0.<i> (one per run) holds the package; the adapter by entry point."""
    work = tmp / "project"
    ep = tmp / "ep" / "trainmaster_octopus_ep-0.dist-info"
    ep.mkdir(parents=True)
    (ep / "METADATA").write_text("Metadata-Version: 2.1\nName: trainmaster-octopus-ep\nVersion: 0\n")
    (ep / "entry_points.txt").write_text("[trainmaster]\noctopus = trainmaster_octopus.adapter\n")
    work.mkdir()
    (work / "trainmaster.yaml").write_text(PROJECT)
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
    env.update(PYTHONPATH=os.pathsep.join([str(tmp / "ep"), str(ROOT / "src"), str(ROOT / "plugins")]),
               OCTOPUS_URL=url, OCTOPUS_API_KEY=KEY, OCTOPUS_SPACE="Spaces-1")
    return work, env


def run_sync(work: Path, env: dict[str, str], version: str) -> tuple[float, float, float]:
    """``trainmaster sync --to octopus VERSION``: (seconds, peak RSS in bytes, CPU seconds) of that process."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "trainmaster", "sync", "--to", "octopus", version], cwd=work,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    out = (proc.stdout.read() if proc.stdout else b"") + (proc.stderr.read() if proc.stderr else b"")
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0 or b"created" not in out:
        raise SystemExit(f"trainmaster sync failed ({proc.returncode}): {out.decode(errors='replace')[-2000:]}")
    return elapsed, usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("gib", nargs="?", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    size = int(args.gib * (1 << 30))
    runs: dict[str, list[float]] = {"sync": [], "push": [], "curl": [], "fixed": [], "bare": []}
    rss = {"sync": 0.0, "push": 0.0}
    cpu: dict[str, list[float]] = {"sync": [], "curl": []}
    creates: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="trainmaster-bench-") as name:
        tmp = Path(name)
        fake, url = start_fake()
        try:
            work, env = project(tmp, url)
            path = work / "package.zip"
            with open(path, "wb") as fh:
                fh.truncate(size)
            pinned = "sha256:" + _sha256(path)
            tiny = tmp / "tiny"
            tiny.mkdir()
            (tiny / "trainmaster.yaml").write_text(PROJECT)
            (tiny / "package.zip").write_bytes(b"x")
            for where, major, count in ((work, 1, args.repeat), (tiny, 9, args.repeat + 1)):
                for i in range(count):
                    started = time.perf_counter()
                    made = subprocess.run([sys.executable, "-m", "trainmaster", "release", "create", f"{major}.0.{i}"],
                                          cwd=where, env=env, capture_output=True, text=True, timeout=1800)
                    if made.returncode != 0:
                        raise SystemExit(f"release create failed: {made.stderr}")
                    if where == work and i == 0:
                        creates["with octopus: (records the SHA-1)"] = time.perf_counter() - started
            plain = tmp / "plain"  # the same file in a project that names no Octopus: nothing recorded
            plain.mkdir()
            os.link(path, plain / "package.zip")
            (plain / "trainmaster.yaml").write_text(PLAIN)
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "trainmaster", "release", "create", "1.0.0"], cwd=plain, env=env,
                           capture_output=True, check=True, timeout=1800)
            creates["without octopus:"] = time.perf_counter() - started
            stored = work / ".trainmaster" / "store" / "sha256" / pinned[7:9] / pinned[7:]
            run_sync(tiny, env, f"9.0.{args.repeat}")  # unmeasured: writes the bytecode
            for i in range(args.repeat):
                seconds, peak, used = run_sync(work, env, f"1.0.{i}")
                runs["sync"].append(seconds)
                cpu["sync"].append(used)
                rss["sync"] = max(rss["sync"], peak)
                result = run_trainmaster(url, stored, f"3.0.{i}", pinned)
                runs["push"].append(result["seconds"])
                rss["push"] = max(rss["push"], result["rss"])
                started = time.perf_counter()
                subprocess.run([sys.executable, "-c", BARE, url, str(path), f"4.0.{i}", KEY], check=True, timeout=1800)
                runs["bare"].append(time.perf_counter() - started)
                seconds, used = run_curl(url, path, f"2.0.{i}")
                runs["curl"].append(seconds)
                cpu["curl"].append(used)
                seconds, _, _ = run_sync(tiny, env, f"9.0.{i}")
                runs["fixed"].append(seconds)
        finally:
            fake.terminate()
            fake.wait(timeout=30)
    best = {k: min(v) for k, v in runs.items()}
    median = {k: statistics.median(v) for k, v in runs.items()}
    print(f"package: {size / (1 << 30):.2f} GiB, {args.repeat} runs (alternating), fake hashing and discarding, "
          f"load average {os.getloadavg()[0]:.1f}")
    for key, label in (("curl", "curl -F                     "), ("sync", "trainmaster sync --to octopus"),
                       ("push", "  of which the push alone   "), ("fixed", "  sync of a 1-byte package   "),
                       ("bare", "bare Python (http.client)    ")):
        line = (f"{label} best {best[key]:6.2f} s {best[key] / best['curl']:5.2f}x curl  median {median[key]:6.2f} s "
                f"{median[key] / median['curl']:5.2f}x")
        if key in cpu:
            line += f"  CPU {statistics.median(cpu[key]):5.2f} s"
        line += f"  (runs {', '.join(f'{t:.2f}' for t in runs[key])})"
        if key in rss:
            line += f"  peak RSS {rss[key] / (1 << 20):.1f} MiB"
        print(line)
    print(f"  the transfer alone (sync - the fixed cost) {(best['sync'] - best['fixed']) / best['curl']:.2f}x curl; "
          f"the fixed cost is {best['fixed'] / best['curl']:.2f}x curl's whole upload")
    print(f"  bare Python is {best['bare'] / best['curl']:.2f}x curl (the floor of a Python client here); trainmaster "
          f"sync is {best['sync'] / best['bare']:.2f}x bare Python")
    print("  release create of the package (setup, one run each): "
          + ";  ".join(f"{label} {seconds:.2f} s" for label, seconds in creates.items()))
    ratio = best["sync"] / best["curl"]
    ok = rss["sync"] <= 64 * (1 << 20) and ratio <= 1.1
    print(f"sync/curl best {ratio:.2f} (goal ≤ 1.10), medians {median['sync'] / median['curl']:.2f}; peak RSS "
          f"{rss['sync'] / (1 << 20):.1f} MiB (bar ≤ 64 MiB)  " + ("PASS" if ok else "FAIL"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
