"""HTTP calls for "launch one job template, follow its output, wait until it finishes".

trainmaster's AWX target (``trainmaster deploy`` with ``target: awx``) against the official client's
equivalent, awxkit's ``awx job_templates launch --monitor``, each against a fresh AWX fake
(tests/fakes/awx.py), counted from the fake's request log. Printed: calls before the launch, the
launch, and calls per poll interval while the job runs (the fake's job advances one step per status
read, so both see the same number of intervals). The bar: per interval, trainmaster ≤ awxkit (one
status read, plus one read of the new output lines); before the launch, any difference is printed.

Run: ``python bench/bench_awx_calls.py`` (awxkit is in the ``test`` extra). Takes ~10 s: awxkit
sleeps at least 2.5 s between polls.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src"), str(ROOT / "plugins")]

from tests.fakes.awx import AwxFake  # noqa: E402

LAUNCH = "Job Templates_job_templates_launch_create"
CONFIG = """\
project: bench
packages:
  app: app.bin
awx: {job_template: deploy-app, poll_interval: 0.05}
defaults: {target: awx}
train:
  - name: dev
"""


def _split(fake: AwxFake) -> tuple[int, int, int]:
    """(calls before the launch, calls after it, status reads after it) from the fake's log."""
    ops = [c.operation_id for c in fake.calls]
    at = ops.index(LAUNCH)
    after = ops[at + 1:]
    polls = sum(1 for o in after if o in ("Jobs_jobs_read_0", "Unified Jobs_unified_jobs_list"))
    return at, len(after), polls


def trainmaster_flow() -> tuple[int, int, int]:
    with AwxFake() as fake, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "app.bin").write_bytes(b"bench")
        (work / "trainmaster.yaml").write_text(CONFIG)
        env = {**os.environ, "CONTROLLER_HOST": fake.url, "CONTROLLER_OAUTH_TOKEN": fake.token}
        for args in (["release", "create", "1.0.0"], ["deploy", "1.0.0", "--to", "dev"]):
            subprocess.run([sys.executable, "-m", "trainmaster", *args], cwd=work, env=env, check=True,
                           capture_output=True)
        return _split(fake)


def awxkit_flow() -> tuple[int, int, int]:
    exe = shutil.which("awx", path=str(Path(sys.executable).parent)) or "awx"
    with AwxFake() as fake:
        subprocess.run([exe, "--conf.host", fake.url, "--conf.token", fake.token, "job_templates", "launch", "1",
                        "--monitor", "--interval", "2.5", "--extra_vars", '{"trainmaster": {}}'], check=True,
                       capture_output=True)
        return _split(fake)


def main() -> int:
    rows = {"trainmaster": trainmaster_flow(), "awxkit": awxkit_flow()}
    print(f"{'client':<12} {'before launch':>13} {'after launch':>12} {'status reads':>12} {'calls/interval':>14}")
    per = {}
    for name, (before, after, polls) in rows.items():
        per[name] = after / max(polls, 1)
        print(f"{name:<12} {before:>13} {after:>12} {polls:>12} {per[name]:>14.2f}")
    ok = per["trainmaster"] <= per["awxkit"]
    print(f"calls per interval: trainmaster / awxkit = {per['trainmaster'] / per['awxkit']:.2f}x "
          f"-> {'PASS' if ok else 'FAIL'} (bar: <= 1.0x)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
