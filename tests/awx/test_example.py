"""examples/awx runs as documented: ``run.sh URL`` against ``python -m tests.fakes.awx``."""

from __future__ import annotations

from pathlib import Path

from tests.support.examples import fake_process, run_example


def test_the_example_promotes_through_job_templates_and_an_approved_workflow(tmp_path: Path):
    with fake_process("awx") as fake:
        done = run_example("awx", fake.url, tmp=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "PLAY RECAP" in done.stdout and "waits on the approval" in done.stderr
        assert "of 1.0.0 to prod succeeded" in done.stdout + done.stderr
        ops = fake.operations()
        assert ops.count("Job Templates_job_templates_launch_create") == 2  # dev, test
        assert ops.count("Workflow Job Templates_workflow_job_templates_launch_create") == 1  # prod, adopted
        assert ops.count("Workflow Approvals_workflow_approvals_approve_create") == 1
        assert fake.admin("violations") == []
