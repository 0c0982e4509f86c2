"""The release manifest handed to Puppet, and the job description that ties a job to a deployment.

The manifest (documented in docs/puppet-enterprise.md) is the ``trainmaster`` parameter of a plan::

    {"release_id": "sha256:…", "project": "app", "version": "1.2.3", "environment": "test",
     "deployment_id": 12, "kind": "deploy",
     "packages": [{"name": "app", "file_name": "app.tar.gz", "size": 1234, "digest": "sha256:…",
                   "sha256": "…", "media_type": "application/gzip", "url": "https://…/app.tar.gz"}]}

``url`` is where a publisher put the file (``null`` when none reported one); Puppet code fetches it and
checks ``sha256`` (``file { checksum => sha256 }``). See :meth:`trainmaster.interfaces.DeployJob.manifest`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trainmaster.interfaces import DeployJob

__all__ = ["describe", "parse_description"]

_DESC = re.compile(r"^trainmaster (?P<project>\S+) (?P<version>\S+) release=(?P<release_id>\S+) "
                   r"deployment=(?P<deployment_id>\d+) env=(?P<environment>\S+) kind=(?P<kind>\S+)$")


def describe(job: DeployJob) -> str:
    """The job description: what a person reads in the PE console, and how a re-run finds the job."""
    rel = job.release
    return (f"trainmaster {rel.project} {rel.version} release={rel.id} deployment={job.deployment_id} "
            f"env={job.environment.name} kind={job.kind}")


def parse_description(text: Any) -> dict[str, str]:
    """The fields of a description written by :func:`describe`; ``{}`` for any other job."""
    found = _DESC.match(str(text or ""))
    return found.groupdict() if found else {}
