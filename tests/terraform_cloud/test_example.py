"""examples/terraform-cloud runs as documented: ``run.sh URL`` against ``python -m tests.fakes.terraform_cloud``."""

from __future__ import annotations

from pathlib import Path

from tests.support.examples import fake_process, run_example


def test_the_example_promotes_one_configuration_version_through_three_workspaces(tmp_path: Path):
    with fake_process("terraform_cloud") as fake:
        done = run_example("terraform-cloud", fake.url, tmp=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "waits for a person to confirm" in done.stderr and "adopting run" in done.stdout + done.stderr
        assert "of 1.0.0 to prod succeeded" in done.stdout + done.stderr
        ops = fake.operations()
        assert ops.count("create-configuration-version") == 1 and ops.count("upload-configuration-files") == 1
        assert ops.count("create-run") == 3 and ops.count("apply-run") == 1
        assert fake.admin("violations") == []
