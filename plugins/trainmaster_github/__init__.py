"""trainmaster's GitHub adapter: Releases as the store, Deployments as the ledger, the Actions runner context.

Registered through the ``trainmaster`` entry-point group as ``github = "trainmaster_github.adapter"``.
The public pieces: :mod:`trainmaster_github.client` (the HTTP choke point),
:mod:`trainmaster_github.context` (the runner protocol) and :mod:`trainmaster_github.adapter` (hooks).
Importing this package imports nothing heavy.
"""

from __future__ import annotations

__all__ = ["adapter", "client", "context"]
