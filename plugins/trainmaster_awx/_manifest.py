"""The release manifest handed to the engine as ``extra_vars.trainmaster``.

Its shape (documented in docs/awx.md) is what a playbook reads::

    {"release_id": "sha256:…", "project": "app", "version": "1.2.3", "environment": "test",
     "deployment_id": 12, "kind": "deploy",
     "packages": [{"name": "app", "file_name": "app.tar.gz", "size": 1234, "digest": "sha256:…",
                   "sha256": "…", "media_type": "application/gzip", "url": "https://…/app.tar.gz"}]}

``url`` is where a publisher put the file (a GitHub release asset, the Octopus feed), or ``null`` when
none reported one; a playbook fetches it with ``get_url`` and ``checksum: sha256:{{ item.sha256 }}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trainmaster.interfaces import DeployJob

__all__ = ["extra_vars"]


def extra_vars(job: DeployJob) -> dict[str, Any]:
    """The environment's (non-secret: secrets are refused earlier) variables plus ``trainmaster``."""
    return {**job.variables, "trainmaster": job.manifest()}
