"""Rows of the Octopus ledger are data from the server: checked before anything reads them."""

from __future__ import annotations

import pytest

from trainmaster.errors import IntegrityError
from trainmaster_octopus._ledger import OctopusLedger


@pytest.mark.parametrize("bad", ["Deployments-", "Tasks-12", "12; rm -rf /", "Deployments-1\n::add-mask::x"])
def test_a_deployment_id_that_is_not_deployments_n_is_an_integrity_error(bad: str) -> None:
    item = {"DeploymentId": bad, "State": "Success", "ReleaseVersion": "1.0.0", "Created": "2026-03-01T09:30:00Z"}
    with pytest.raises(IntegrityError, match="has an id that is not Deployments-N"):
        OctopusLedger._row(item, {"Version": "1.0.0"}, "sha256:" + "0" * 64, "dev", "Projects-1", None)  # type: ignore[arg-type]


def test_a_deployment_id_is_numbered_from_octopus_s_own() -> None:
    item = {"DeploymentId": "Deployments-42", "State": "Success", "ReleaseVersion": "1.0.0",
            "Created": "2026-03-01T09:30:00Z"}
    row = OctopusLedger._row(item, {"Version": "1.0.0"}, "sha256:" + "0" * 64, "dev", "Projects-1", None)  # type: ignore[arg-type]
    assert row.id == 42 and row.status == "succeeded" and row.started_at == "2026-03-01T09:30:00.000Z"
