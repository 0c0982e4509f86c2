"""trainmaster's Octopus Deploy adapter.

Pushes the pinned packages to Octopus's built-in feed (streamed, idempotent on
content), attaches build information, creates releases with every package
version pinned, deploys them and waits for the server tasks, and reads back
what is deployed where. Registered through the ``trainmaster`` entry-point
group as ``octopus = "trainmaster_octopus.adapter"``.

Nothing heavy is imported here: ``requests`` is imported inside the calls.
"""

from __future__ import annotations

__all__ = ["adapter"]
