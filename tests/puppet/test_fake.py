"""The Puppet Enterprise fake itself: separate-process mode and contract checks of requests."""

from __future__ import annotations

import subprocess
import sys

import requests


def test_the_fake_runs_alone_and_records_a_contract_violation(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "tests.fakes.puppet", "--port", "0", "--token", "t0k"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.startswith("READY puppet http://127.0.0.1:"), line
        url = line.split()[2]
        headers = {"X-Authentication": "t0k"}
        ok = requests.post(f"{url}/code-manager/v1/deploys", json={"environments": ["dev"], "wait": True},
                           headers=headers, timeout=10)
        assert ok.status_code == 200 and ok.json()[0]["status"] == "complete"
        bad = requests.post(f"{url}/orchestrator/v1/command/deploy", json={"scope": {"nodes": []}},
                            headers=headers, timeout=10)
        assert bad.status_code == 422 and bad.json()["kind"]
        violations = requests.get(f"{url}/_fake/violations", timeout=10).json()
        assert [v["path"] for v in violations] == ["/orchestrator/v1/command/deploy"]
        assert requests.get(f"{url}/orchestrator/v1/jobs", timeout=10).status_code == 401  # no token
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
