"""The fake checked with the official client: awxkit's ``awx`` CLI launches and monitors a job.

Every request it sends is checked against tests/contracts/awx.swagger.json by the fake (the
``awx_fake`` fixture fails the test on a violation); its ``OPTIONS`` calls are the allow-listed
discovery documented in tests/contracts/README.md.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path


def _awx(fake, *args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("awx", path=str(Path(sys.executable).parent)) or "awx"
    env = {**os.environ, "CONTROLLER_HOST": fake.url, "CONTROLLER_OAUTH_TOKEN": fake.token}
    return subprocess.run([exe, "--conf.host", fake.url, "--conf.token", fake.token, *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_awx_cli_launches_and_monitors_a_job_against_the_fake(awx_fake):
    manifest = {"trainmaster": {"version": "1.0.0", "packages": [{"name": "app", "digest": "sha256:" + "a" * 64}]}}
    result = _awx(awx_fake, "job_templates", "launch", "deploy-app", "--monitor", "--interval", "2.5",
                  "--extra_vars", json.dumps(manifest), "-f", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PLAY RECAP" in result.stdout  # the job's output, streamed from job_events
    (job,) = awx_fake.jobs_of("job")
    assert job.status == "successful" and job.extra_vars == manifest
    assert awx_fake.count("Job Templates_job_templates_launch_create", status=201) == 1
    assert awx_fake.count("Jobs_jobs_read_0") >= 2  # monitored until finished
    assert awx_fake.violations == []


def test_awx_cli_sees_a_failed_job(awx_fake):
    awx_fake.fail_next_job("boom")
    result = _awx(awx_fake, "job_templates", "launch", "1", "--wait", "--interval", "2.5", "-f", "json")
    assert result.returncode == 1, result.stdout + result.stderr
    assert awx_fake.jobs_of("job")[0].status == "failed"
