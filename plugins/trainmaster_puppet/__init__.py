"""trainmaster adapter for Puppet Enterprise: the ``puppet-enterprise`` target.

Each deployment deploys the Puppet code environment with Code Manager, then runs the orchestrator
(``command/deploy`` on a scope, or ``command/plan_run`` with the release manifest as plan parameters)
and waits for the job. See docs/puppet-enterprise.md.
"""

from __future__ import annotations
