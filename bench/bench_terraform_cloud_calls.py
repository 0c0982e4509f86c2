"""HTTP calls for "upload the configuration once, run it in a workspace, wait until it is applied".

trainmaster's ``terraform-cloud`` target (``trainmaster deploy``, a subprocess) against the same flow
written with HashiCorp's official Python SDK ``pytfe`` (create a configuration version, upload the
archive, create a run on it, read the run until it ends, the way its documentation polls), each
against a fresh HCP Terraform fake (tests/fakes/terraform_cloud.py), counted from the fake's request
log. The run stays ``planning`` for :data:`HELD` reads, then plans and applies, so both wait the same
number of intervals. Printed (bench/_intervals.py): calls before the run is created, status reads,
other reads while waiting, calls per interval, and the ratio to pytfe's. The bar: one request per
interval (``GET /runs/{id}?include=plan`` carries the status and the plan's change counts), no more
than pytfe per interval.

Before the run, trainmaster reads the workspace, looks for this release's earlier run (adoption),
and looks for an uploaded configuration version with the package's digest before creating one.

Run: ``python bench/bench_terraform_cloud_calls.py`` (pytfe is in the ``test`` extra). A few seconds.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src"), str(ROOT / "plugins"), str(ROOT / "bench")]

from _intervals import Flow, report, split  # noqa: E402
from tests.fakes.terraform_cloud import FINAL, TerraformCloudFake  # noqa: E402

HELD = 6  # status reads while the run stays planning
CREATE = "create-run"
POLLS = {"get-run"}
CONFIG = """\
project: bench
packages:
  infra: infra.tar.gz
terraform-cloud: {{hostname: "{url}", organization: acme, poll_interval: 0.05}}
defaults: {{target: terraform-cloud}}
train:
  - name: dev
"""


def _archive() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = b'variable "trainmaster" {}\n'
        info = tarfile.TarInfo("main.tf")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _hold(fake: TerraformCloudFake) -> None:
    """The next run stays ``planning`` until it was read :data:`HELD` times, then plans and applies."""
    fake.stall_next_run()

    def release() -> None:
        while fake.count("get-run") < HELD:
            time.sleep(0.01)
        with fake.lock:
            for run in fake.runs.values():
                run["stop"] = "planned"

    threading.Thread(target=release, daemon=True).start()


def trainmaster_flow() -> Flow:
    with TerraformCloudFake() as fake, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "infra.tar.gz").write_bytes(_archive())
        (work / "trainmaster.yaml").write_text(CONFIG.format(url=fake.url))
        env = {**os.environ, "TF_API_TOKEN": fake.token}
        for name in ("TRAINMASTER_LOAD_PLUGINS", "TFE_TOKEN"):
            env.pop(name, None)
        run = [sys.executable, "-m", "trainmaster"]
        subprocess.run([*run, "release", "create", "1.0.0"], cwd=work, env=env, check=True, capture_output=True)
        _hold(fake)
        subprocess.run([*run, "deploy", "1.0.0", "--to", "dev"], cwd=work, env=env, check=True, capture_output=True)
        return Flow("trainmaster", *split([str(c.operation_id) for c in fake.calls], CREATE, POLLS))


def pytfe_flow(interval: float = 0.05) -> Flow:
    from pytfe import TFEClient, TFEConfig
    from pytfe.models import ConfigurationVersion, ConfigurationVersionCreateOptions, RunCreateOptions, Workspace

    with TerraformCloudFake() as fake:
        _hold(fake)
        client = TFEClient(TFEConfig(address=fake.url, token=fake.token, http2=False, max_retries=0))
        ws = client.workspaces.read("dev", organization="acme")
        cv = client.configuration_versions.create(ws.id, ConfigurationVersionCreateOptions(auto_queue_runs=False))
        client.configuration_versions.upload_tar_gzip(cv.upload_url, io.BytesIO(_archive()))
        while client.configuration_versions.read(cv.id).status != "uploaded":
            time.sleep(interval)
        run = client.runs.create(RunCreateOptions(workspace=Workspace(id=ws.id), message="from pytfe",
                                                  configuration_version=ConfigurationVersion(id=cv.id)))
        while str(getattr(client.runs.read(run.id).status, "value", "")) not in FINAL:
            time.sleep(interval)
        return Flow("pytfe", *split([str(c.operation_id) for c in fake.calls], CREATE, POLLS))


def main() -> int:
    return report(f"HCP Terraform run, {HELD}+ intervals planning, then plan and apply",
                  [trainmaster_flow(), pytfe_flow()], "pytfe")


if __name__ == "__main__":
    sys.exit(main())
