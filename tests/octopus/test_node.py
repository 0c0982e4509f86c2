"""The official TypeScript api-client (@octopusdeploy/api-client) reads back what trainmaster created.

trainmaster publishes and deploys against the Octopus fake; then bench/octopus/flow.js (``readback``)
uses the api-client against the same fake to read the release, its package versions, the deployment
and its task.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.octopus import make_config, make_release
from tests.support.octopus_flow import ENVS, deploy
from trainmaster_octopus._publish import OctopusPublisher
from trainmaster_octopus._settings import reset_clients

ROOT = Path(__file__).resolve().parents[2]
MODULES = ROOT / "tests" / "fakes" / "node" / "node_modules" / "@octopusdeploy" / "api-client"


@pytest.mark.skipif(shutil.which("node") is None or not MODULES.exists(),
                    reason="needs node and `npm ci` in tests/fakes/node")
def test_api_client_reads_back_release_packages_deployment_and_task(octopus_fake, tmp_path):
    reset_clients()
    env = {"OCTOPUS_URL": octopus_fake.url, "OCTOPUS_API_KEY": octopus_fake.api_key, "OCTOPUS_SPACE": "Default"}
    config = make_config(tmp_path, {"poll_interval": 0.01}, ENVS)
    release, paths = make_release(tmp_path, {"app.zip": b"zip-bytes", "worker.bin": b"\x7fELF"})
    assert OctopusPublisher(env).ensure(release, paths, config).state == "created"
    outcome = deploy(config, release, paths, env, "dev")
    assert outcome.status == "succeeded"
    ours = outcome.remote["deployments"]["MyApp"]
    proc = subprocess.run(["node", str(ROOT / "bench" / "octopus" / "flow.js"), "readback", "MyApp", "1.2.3",
                           "Development"], env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    assert seen["release"]["version"] == "1.2.3"
    assert f"trainmaster release id: {release.id}" in seen["release"]["notes"]
    assert sorted((p["action"], p["version"]) for p in seen["release"]["packages"]) == [
        ("app", "1.2.3"), ("worker", "1.2.3")]
    assert seen["deployment"]["id"] == ours["deployment_id"] and seen["deployment"]["task"] == ours["task_id"]
    assert seen["task"] == {"id": ours["task_id"], "state": "Success", "completed": True}
    reset_clients()
