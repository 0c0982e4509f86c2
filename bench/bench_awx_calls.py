"""HTTP calls for "launch one job template, follow its output, wait until it finishes".

trainmaster's AWX target (``trainmaster deploy`` with ``target: awx``) against the official client's
equivalent, awxkit's ``awx job_templates launch --monitor``, each against a fresh AWX fake
(tests/fakes/awx.py), counted from the fake's request log. The job runs one long task for
:data:`HELD` status reads, then ends, so both clients wait the same number of intervals. Printed (see
bench/_intervals.py): calls before the launch, status reads, other reads while waiting, and calls per
interval. The bar: one status read per interval, the output read only when the job answer shows it
grew, and no more calls per interval than awxkit (which reads the job and its events every interval).

A second table: a workflow job (one job node, no approval) waited on by trainmaster: one
``unified_jobs`` read per interval serves the workflow and its nodes. awxkit's workflow ``--monitor``
is not compared: it reads ``/api/v2/unified_jobs`` without the trailing slash, which the AWX API
description does not have, so the fake refuses it.

Run: ``python bench/bench_awx_calls.py`` (awxkit is in the ``test`` extra). Takes ~15 s: awxkit
sleeps at least 2.5 s between polls.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src"), str(ROOT / "plugins"), str(ROOT / "bench")]

from _intervals import Flow, report, split, timed_split  # noqa: E402
from tests.fakes.awx import AwxFake  # noqa: E402

HELD = 4  # status reads while the job runs its one long task
INTERVAL = 0.2  # trainmaster's poll_interval here (awxkit's --interval is 2.5)
LAUNCH = "Job Templates_job_templates_launch_create"
WF_LAUNCH = "Workflow Job Templates_workflow_job_templates_launch_create"
POLLS = {"Jobs_jobs_read_0", "Unified Jobs_unified_jobs_list", "Workflow Jobs_workflow_jobs_read"}
CONFIG = """\
project: bench
packages:
  app: app.bin
awx: {{{template}, poll_interval: 0.2}}
defaults: {{target: awx}}
train:
  - name: dev
"""


def _hold(fake: AwxFake) -> None:
    """The next job stays running until it was read :data:`HELD` times, then finishes."""
    fake.hold_next_job()

    def release() -> None:
        while sum(fake.count(op) for op in POLLS) < HELD:
            time.sleep(0.01)
        for job in fake.jobs_of("job"):
            fake.release_job(job.id)

    threading.Thread(target=release, daemon=True).start()


def trainmaster_flow(template: str = "job_template: deploy-app", *, workflow: bool = False) -> Flow:
    with AwxFake() as fake, tempfile.TemporaryDirectory() as tmp:
        if workflow:
            fake.seed_workflow("bench-flow", 1, approval=False)
        work = Path(tmp)
        (work / "app.bin").write_bytes(b"bench")
        (work / "trainmaster.yaml").write_text(CONFIG.format(template=template))
        env = {**os.environ, "CONTROLLER_HOST": fake.url, "CONTROLLER_OAUTH_TOKEN": fake.token}
        env.pop("TRAINMASTER_LOAD_PLUGINS", None)
        run = [sys.executable, "-m", "trainmaster"]
        subprocess.run([*run, "release", "create", "1.0.0"], cwd=work, env=env, check=True, capture_output=True)
        fake.reset_log()
        _hold(fake)
        subprocess.run([*run, "deploy", "1.0.0", "--to", "dev"], cwd=work, env=env, check=True, capture_output=True)
        calls = list(fake.calls)
        if workflow:
            return Flow("trainmaster", *split([str(c.operation_id) for c in calls], WF_LAUNCH, POLLS))
        return Flow("trainmaster", *timed_split(calls, LAUNCH, POLLS, pause=INTERVAL / 2))


def awxkit_flow() -> Flow:
    exe = shutil.which("awx", path=str(Path(sys.executable).parent)) or "awx"
    with AwxFake() as fake:
        _hold(fake)
        subprocess.run([exe, "--conf.host", fake.url, "--conf.token", fake.token, "job_templates", "launch", "1",
                        "--monitor", "--interval", "2.5", "--extra_vars", '{"trainmaster": {}}'], check=True,
                       capture_output=True)
        return Flow("awxkit", *timed_split(list(fake.calls), LAUNCH, POLLS, pause=1.25))


def main() -> int:
    status = report(f"AWX playbook job, {HELD}+ intervals in one long task", [trainmaster_flow(), awxkit_flow()],
                    "awxkit")
    print()
    status |= report("AWX workflow job (one job node)",
                     [trainmaster_flow("workflow_job_template: bench-flow", workflow=True)], None,
                     "awxkit's workflow --monitor reads an undescribed path")
    return status


if __name__ == "__main__":
    sys.exit(main())
