"""pytest plugin: fixtures ``github_fake``, ``azure_fake``, ``octopus_fake``, ``awx_fake``,
``terraform_cloud_fake`` and ``puppet_fake``.

Each fixture starts a fresh fake on 127.0.0.1 (free port) for one test and stops it afterwards. At
teardown the test fails if the fake recorded a contract violation, unless the test called
``fake.expect_violations()``. See tests/fakes/README.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .awx import AwxFake
from .azure import AzureDevOpsFake
from .core import FakeService
from .github import GitHubFake
from .octopus import OctopusFake
from .puppet import PuppetFake
from .terraform_cloud import TerraformCloudFake


def _run(fake: FakeService) -> Iterator[Any]:
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
    if fake.violations and not fake._expect_violations:
        lines = "\n".join(f"  {v.method} {v.path} -> {v.status}: {v.reason}" for v in fake.violations)
        pytest.fail(
            f"the {fake.name} fake recorded {len(fake.violations)} contract violation(s):\n{lines}",
            pytrace=False,
        )
    if fake.response_problems:  # the fake itself answered something the description does not allow
        lines = "\n".join(f"  {p}" for p in fake.response_problems[:20])
        pytest.fail(f"the {fake.name} fake answered {len(fake.response_problems)} response(s) that do not fit "
                    f"the description's response schemas:\n{lines}", pytrace=False)


@pytest.fixture
def github_fake() -> Iterator[GitHubFake]:
    """A fresh GitHub fake. ``.url`` is GITHUB_API_URL, ``.uploads_url`` the uploads host, ``.token``."""
    yield from _run(GitHubFake())


@pytest.fixture
def azure_fake() -> Iterator[AzureDevOpsFake]:
    """A fresh Azure DevOps fake. ``.url`` is the organisation URL, ``.vsrm_url`` the release host."""
    yield from _run(AzureDevOpsFake())


@pytest.fixture
def octopus_fake() -> Iterator[OctopusFake]:
    """A fresh Octopus fake. ``.url`` is OCTOPUS_URL, ``.api_key`` the accepted key, ``.space_id``."""
    yield from _run(OctopusFake())


@pytest.fixture
def awx_fake() -> Iterator[AwxFake]:
    """A fresh AWX controller fake. ``.url`` is CONTROLLER_HOST, ``.token`` the accepted OAuth2 token."""
    yield from _run(AwxFake())


@pytest.fixture
def terraform_cloud_fake() -> Iterator[TerraformCloudFake]:
    """A fresh HCP Terraform fake. ``.url`` is the address, ``.token``, ``.organization`` (``acme``)."""
    yield from _run(TerraformCloudFake())


@pytest.fixture
def puppet_fake() -> Iterator[PuppetFake]:
    """A fresh Puppet Enterprise fake (plain HTTP). ``.url`` is the primary server, ``.port``, ``.token``."""
    yield from _run(PuppetFake())
