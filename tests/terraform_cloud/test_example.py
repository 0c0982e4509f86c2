"""examples/terraform-cloud runs as documented: ``run.sh URL`` against ``python -m tests.fakes.terraform_cloud``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.support.project import host_env
from tests.terraform_cloud.conftest import ROOT


def _admin(url: str, name: str) -> list[dict]:
    with urllib.request.urlopen(f"{url}/_fake/{name}", timeout=10) as answer:  # noqa: S310 (loopback fake)
        return json.loads(answer.read())


def test_the_example_promotes_one_configuration_version_through_three_workspaces(tmp_path: Path):
    bin_dir = Path(sys.executable).parent
    assert shutil.which("trainmaster", path=str(bin_dir)), "the test extra installs the trainmaster command"
    fake = subprocess.Popen([sys.executable, "-m", "tests.fakes.terraform_cloud", "--port", "0"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert fake.stdout is not None
        line = fake.stdout.readline()
        assert line.startswith("READY terraform-cloud "), line + (fake.stderr.read() if fake.stderr else "")
        url = line.split()[2]
        env = host_env(PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", TMPDIR=str(tmp_path))
        for name in ("TF_API_TOKEN", "TFE_TOKEN"):
            env.pop(name, None)
        done = subprocess.run(["sh", str(ROOT / "examples" / "terraform-cloud" / "run.sh"), url], env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "waits for a person to confirm" in done.stderr and "adopting run" in done.stdout + done.stderr
        calls = _admin(url, "calls")
        ops = [c["operation_id"] for c in calls]
        assert ops.count("create-configuration-version") == 1 and ops.count("upload-configuration-files") == 1
        assert ops.count("create-run") == 3 and ops.count("apply-run") == 1
        assert _admin(url, "violations") == []
        assert "of 1.0.0 to prod succeeded" in done.stdout + done.stderr
    finally:
        fake.terminate()
        fake.communicate(timeout=30)
