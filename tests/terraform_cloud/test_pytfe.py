"""HashiCorp's official Python SDK ``pytfe`` against the fake: no contract violation (the fixture checks)."""

from __future__ import annotations

import io

from tests.terraform_cloud.conftest import config_archive


def test_pytfe_uploads_a_configuration_creates_and_reads_runs(terraform_cloud_fake):
    # imported here: its ~470 pydantic models take over a second to build, in the one worker that runs this test
    # rather than in every pytest-xdist worker at collection
    from pytfe import TFEClient, TFEConfig
    from pytfe.models import ConfigurationVersion, ConfigurationVersionCreateOptions, RunCreateOptions, Workspace

    fake = terraform_cloud_fake
    client = TFEClient(TFEConfig(address=fake.url, token=fake.token, http2=False, max_retries=0))
    ws = client.workspaces.read("dev", organization="acme")
    cv = client.configuration_versions.create(ws.id, ConfigurationVersionCreateOptions(auto_queue_runs=False))
    client.configuration_versions.upload_tar_gzip(cv.upload_url, io.BytesIO(config_archive("# x\n")))
    assert client.configuration_versions.read(cv.id).status == "uploaded"
    run = client.runs.create(RunCreateOptions(workspace=Workspace(id=ws.id), message="from pytfe",
                                              configuration_version=ConfigurationVersion(id=cv.id)))
    states = [str(getattr(client.runs.read(run.id).status, "value", "")) for _ in range(4)]
    assert states == ["planning", "planned", "applying", "applied"]
    listed = list(client.runs.list(ws.id))
    assert [r.id for r in listed] == [run.id] and listed[0].message == "from pytfe"
    assert fake.violations == [] and fake.response_problems == []
