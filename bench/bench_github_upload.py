"""Benchmark: ``trainmaster sync --to github`` of a 1 GiB package against ``curl -T``, side by side.

The GitHub fake runs as its own process (``python -m tests.fakes.github --discard-uploads``: it
hashes what it receives and keeps no bytes). A project with a local ledger holds a release whose
package is a 1 GiB random file (created untimed with ``release create``). Interleaved, best of
``--repeat``:

* **trainmaster**: ``trainmaster sync --to github <version>`` (a fresh version each run, same package):
  process start, the GitHub calls (look-ups, draft, release.json, publish) and the upload, hashed in
  the same pass as it is sent;
* **curl -T**: ``curl -X POST -T <the store's file>`` (GitHub uploads are POSTs) to a draft
  release's ``upload_url`` on the same fake (a plain streaming upload, nothing else);
* **bare Python**: a script of 20 lines with the standard library's ``http.client`` (no framework, no
  config, no ledger, no hash): create a draft, stream the same file in 1 MiB blocks, publish. It is
  what any Python client pays here (the interpreter's start, ``http.client``'s import, one read and
  one ``sendall`` per block): the floor a Python tool can reach, printed to tell trainmaster's own
  cost from the language's;
* **the fixed cost**: the same ``sync`` of a release whose package is 1 byte (start-up, config,
  ledger, the same GitHub calls): what the command costs besides moving the bytes. The transfer's
  own ratio is (sync − fixed cost) / curl, best against best.

Bytecode is written by an unmeasured first run, as an installed package has it.

Printed: best and median wall time of each, their CPU time (user + system, from ``wait4``: steadier
than wall time on a shared machine), the ratios of the best and of the medians (goal ≤ 1.1× for the
best), and trainmaster's peak RSS (``ru_maxrss``; bar ≤ 64 MiB). Exit 1 when the RSS bar or the 1.1×
goal is missed.

Run from the repository root: ``python bench/bench_github_upload.py [--size-mib 1024] [--repeat 5]``.
Linux/macOS (``os.wait4``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT_MIB = 64.0
GOAL = 1.1
TOKEN = "test-token"
CONFIG = """\
project: bench
packages:
  app: build/app.bin
github:
  repository: acme/app
train:
  - name: dev
    deploy: "true"
"""


BARE = r"""
import http.client, json, os, sys
api, path, n, token = sys.argv[1:5]
head = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
conn = http.client.HTTPConnection(api.split("//", 1)[1])
conn.request("POST", "/repos/acme/app/releases", json.dumps({"tag_name": f"bare-{n}", "draft": True}), head)
draft = json.loads(conn.getresponse().read())
upload = draft["upload_url"].split("{", 1)[0].split("//", 1)[1]
host, _, where = upload.partition("/")
up = http.client.HTTPConnection(host)
up.putrequest("POST", f"/{where}?name=bare-{n}.bin")
for key, value in (("Authorization", head["Authorization"]), ("Content-Type", "application/octet-stream"),
                   ("Content-Length", str(os.path.getsize(path)))):
    up.putheader(key, value)
up.endheaders()
with open(path, "rb", buffering=0) as fh:
    while block := fh.read(1 << 20):
        up.send(block)
answer = up.getresponse()
assert answer.status == 201 and answer.read()
conn.request("PATCH", f"/repos/acme/app/releases/{draft['id']}", json.dumps({"draft": False}), head)
answer = conn.getresponse()
assert answer.status == 200 and answer.read()
"""


def _make_file(path: Path, size: int) -> None:
    block = os.urandom(1024 * 1024)
    with path.open("wb") as fh:
        left = size
        while left > 0:
            fh.write(block[: min(left, len(block))])
            left -= len(block)


def _timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, float]:
    """Run ``cmd``; return (seconds, peak RSS MiB, CPU seconds) of that process. Fails loudly on a non-zero exit."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    out, err = proc.communicate()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.decode()}\n{err.decode()}")
    peak = usage.ru_maxrss / (1024 * 1024) if sys.platform == "darwin" else usage.ru_maxrss / 1024
    return elapsed, peak, usage.ru_utime + usage.ru_stime


def _draft_upload_url(api: str, n: int) -> str:
    req = urllib.request.Request(
        f"{api}/repos/acme/app/releases", method="POST",
        data=json.dumps({"tag_name": f"curl-{n}", "draft": True}).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        return str(json.loads(resp.read())["upload_url"]).split("{", 1)[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=int(os.environ.get("TRAINMASTER_BENCH_SIZE_MIB", "1024")))
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.github", "--port", "0", "--discard-uploads", "--token", TOKEN],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    tm_times: list[float] = []
    curl_times: list[float] = []
    peaks: list[float] = []
    fixed_times: list[float] = []
    bare_times: list[float] = []
    cpu: dict[str, list[float]] = {"tm": [], "curl": [], "fixed": [], "bare": []}
    try:
        assert fake.stdout is not None
        api = fake.stdout.readline().split()[2]
        with tempfile.TemporaryDirectory() as tmp_s:
            work = Path(tmp_s)
            (work / "build").mkdir()
            _make_file(work / "build" / "app.bin", args.size_mib * 1024 * 1024)
            (work / "trainmaster.yaml").write_text(CONFIG)
            tiny = work / "tiny"
            (tiny / "build").mkdir(parents=True)
            (tiny / "build" / "app.bin").write_bytes(b"x")
            (tiny / "trainmaster.yaml").write_text(CONFIG)
            keep = ("PATH", "HOME", "LANG", "TMPDIR")
            env = {k: os.environ[k] for k in keep if k in os.environ}
            env.update({"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": api, "GITHUB_REPOSITORY": "acme/app",
                        "TRAINMASTER_LOAD_PLUGINS": "github",
                        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "plugins")])})
            tm = [sys.executable, "-m", "trainmaster"]
            for i in range(args.repeat):
                subprocess.run([*tm, "release", "create", f"1.0.{i}"], cwd=work, env=env, check=True,
                               capture_output=True)
            for i in range(args.repeat + 1):  # 9.0.<repeat>: the unmeasured run that writes the bytecode
                subprocess.run([*tm, "release", "create", f"9.0.{i}"], cwd=tiny, env=env, check=True,
                               capture_output=True)
            _timed([*tm, "sync", "--to", "github", f"9.0.{args.repeat}"], tiny, env)
            stored = next(p for p in (work / ".trainmaster" / "store" / "sha256").rglob("*") if p.is_file())
            for i in range(args.repeat):
                seconds, peak, used = _timed([*tm, "sync", "--to", "github", f"1.0.{i}"], work, env)
                tm_times.append(seconds)
                peaks.append(peak)
                cpu["tm"].append(used)
                url = _draft_upload_url(api, i)
                curl = ["curl", "-sS", "--fail", "-o", "/dev/null", "-X", "POST", "-T", str(stored),
                        "-H", f"Authorization: Bearer {TOKEN}", "-H", "Content-Type: application/octet-stream",
                        f"{url}?name=app-{i}.bin"]
                seconds, _, used = _timed(curl, work, env)
                curl_times.append(seconds)
                cpu["curl"].append(used)
                seconds, _, used = _timed([*tm, "sync", "--to", "github", f"9.0.{i}"], tiny, env)
                fixed_times.append(seconds)
                cpu["fixed"].append(used)
                seconds, _, used = _timed([sys.executable, "-c", BARE, api, str(stored), str(i), TOKEN], work, env)
                bare_times.append(seconds)
                cpu["bare"].append(used)
    finally:
        fake.terminate()
        fake.wait(timeout=10)
    best_tm, best_curl = min(tm_times), min(curl_times)
    ratio = best_tm / best_curl
    med_ratio = statistics.median(tm_times) / statistics.median(curl_times)
    peak = max(peaks)
    mib = args.size_mib
    load = os.getloadavg()[0]
    print(f"upload of {mib} MiB to the GitHub fake (hashing, discarding), {args.repeat} runs interleaved, "
          f"load average {load:.1f}")

    def line(label: str, times: list[float], used: list[float], rate: bool = True) -> str:
        speed = f"({mib / min(times):5.0f} MiB/s)" if rate else " " * 14
        return (f"  {label:<30} best {min(times):6.2f} s  {speed}  median "
                f"{statistics.median(times):6.2f} s  CPU {statistics.median(used):5.2f} s  "
                f"(runs {', '.join(f'{t:.2f}' for t in times)})")

    print(line("curl -T", curl_times, cpu["curl"]))
    print(line("trainmaster sync --to github", tm_times, cpu["tm"]))
    print(line("  of a 1-byte package", fixed_times, cpu["fixed"], rate=False))
    print(line("bare Python (http.client)", bare_times, cpu["bare"]))
    print(f"  bare Python is {min(bare_times) / best_curl:.2f}x curl (the floor of a Python client here); trainmaster "
          f"is {best_tm / min(bare_times):.2f}x bare Python")
    transfer = (best_tm - min(fixed_times)) / best_curl
    print(f"  the transfer alone (sync - the fixed cost) {transfer:.2f}x curl; the fixed cost is "
          f"{min(fixed_times) / best_curl:.2f}x curl's whole upload")
    print(f"  ratio of the best {ratio:.2f}x (goal <= {GOAL}x)  {'PASS' if ratio <= GOAL else 'FAIL'};  ratio of the "
          f"medians {med_ratio:.2f}x")
    print(f"  peak RSS of trainmaster        {peak:6.1f} MiB (bar <= {LIMIT_MIB:.0f} MiB)  "
          f"{'PASS' if peak <= LIMIT_MIB else 'FAIL'}")
    return 0 if ratio <= GOAL and peak <= LIMIT_MIB else 1


if __name__ == "__main__":
    raise SystemExit(main())
