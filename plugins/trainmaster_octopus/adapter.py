"""Hook implementations of the Octopus Deploy adapter.

Registers the ``octopus:`` settings schema, the ``octopus`` publisher (packages,
build information, releases; ``check`` reports drift), the ``octopus`` target
(deploy through Octopus and wait) and the ``octopus`` ledger (what is deployed
where). Octopus has no CI-runner protocol, so there is no ``ci_context``.

Only light imports at module level: ``trainmaster --help`` must not import requests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trainmaster import hookimpl
from trainmaster.plugins import lazy_hook, schema_hook

if TYPE_CHECKING:
    from trainmaster.config.model import Config

__all__ = ["package_digests", "register_config_schema", "register_ledgers", "register_publishers",
           "register_targets"]

register_config_schema = schema_hook("octopus", "trainmaster_octopus._schema:SCHEMA")
register_targets = lazy_hook("octopus", "trainmaster_octopus._target:OctopusTarget",
                             doc="Target ``octopus``: create deployments in Octopus and wait for their tasks.")
register_ledgers = lazy_hook("octopus", "trainmaster_octopus._ledger:OctopusLedger",
                             doc="Ledger ``octopus``: status and history from Octopus's progression.")
register_publishers = lazy_hook("octopus", "trainmaster_octopus._publish:OctopusPublisher", with_arguments=False,
                                doc="Publisher ``octopus``: packages, build information and releases.")


@hookimpl
def package_digests(config: Config) -> list[str] | None:
    """SHA-1 of every package when the config uses Octopus: Octopus names a package's bytes by it (``Hash``).

    Recorded once with the stored file, it spares each push a second hash beside the pin
    (``Octopus.ensure_package``; deploys still hash the file to check the feed). Not asked when every
    package is wrapped (its name has no extension Octopus's feed takes): a wrapper's SHA-1 is its own.
    """
    uses = ("octopus" in config.plugin_settings or "octopus" in config.publish
            or any(env.target == "octopus" for env in config.environments))
    if not uses:
        return None
    from trainmaster_octopus._wrap import feed_extension

    def as_is(pattern: str) -> bool:  # a glob may match a supported file: ask
        name = pattern.rsplit("/", 1)[-1]
        return feed_extension(name) is not None or any(c in name for c in "*?[")

    return ["sha1"] if any(as_is(spec.path) for spec in config.packages) else None
