"""SIGTERM (a CI cancellation) stops the run; the token may come from a secret reference."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tests.support.project import host_env
from tests.terraform_cloud.conftest import ROOT


def _env(fake, **extra: str) -> dict[str, str]:
    env = host_env(PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT / "plugins")]), **extra)
    for name in ("TF_API_TOKEN", "TFE_TOKEN"):
        if name not in extra:
            env.pop(name, None)
    return env


def test_sigterm_cancels_the_run_it_waits_on(tfc_project):
    run, work, fake = tfc_project
    assert run("release", "create", "1.0.0").returncode == 0
    fake.stall_next_run()
    proc = subprocess.Popen([sys.executable, "-m", "trainmaster", "deploy", "1.0.0", "--to", "dev"], cwd=work,
                            env=_env(fake, TF_API_TOKEN=fake.token), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not any(r["status"] == "planning" for r in fake.runs.values()):
        assert time.monotonic() < deadline and proc.poll() is None, "the run never started planning"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    (only,) = fake.runs.values()
    assert only["status"] == "canceled", out + err
    assert fake.count("cancel-run") == 1
    assert f"cancelled run {only['id']}" in out and "Traceback" not in err
    history = run("history", "--json")
    assert '"cancelled"' in history.stdout


def test_the_token_comes_from_a_secret_reference(tfc_project):
    run, work, fake = tfc_project
    text = (work / "trainmaster.yaml").read_text().replace("  organization: acme\n",
                                                          "  organization: acme\n  token: env:TFC_DEPLOY_TOKEN\n")
    (work / "trainmaster.yaml").write_text(text)
    assert run("release", "create", "1.0.0").returncode == 0
    wrong = subprocess.run([sys.executable, "-m", "trainmaster", "deploy", "1.0.0", "--to", "dev"], cwd=work,
                           env=_env(fake, TF_API_TOKEN=fake.token, TFC_DEPLOY_TOKEN="not-the-token"),
                           capture_output=True, text=True, timeout=120)
    assert wrong.returncode == 2, wrong.stderr
    assert "env:TFC_DEPLOY_TOKEN" in wrong.stderr and "not-the-token" not in wrong.stderr + wrong.stdout
    assert fake.runs == {}
    right = subprocess.run([sys.executable, "-m", "trainmaster", "deploy", "1.0.0", "--to", "dev"], cwd=work,
                           env=_env(fake, TFC_DEPLOY_TOKEN=fake.token), capture_output=True, text=True, timeout=120)
    assert right.returncode == 0, right.stderr
    (only,) = fake.runs.values()
    assert only["status"] == "applied"
