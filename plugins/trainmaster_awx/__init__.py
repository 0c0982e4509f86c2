"""trainmaster's AWX / Ansible Automation Platform controller adapter.

Hands each deployment to a job template or workflow job template as ``extra_vars:
{trainmaster: <release manifest>}`` plus the environment's non-secret variables, streams the
job's output, waits for it (a workflow's approval node is exit 3) and cancels it on SIGTERM or a
timeout. Registered through the ``trainmaster`` entry-point group as
``awx = "trainmaster_awx.adapter"``.

Nothing heavy is imported here: ``requests`` is imported inside the calls.
"""

from __future__ import annotations

__all__ = ["adapter"]
