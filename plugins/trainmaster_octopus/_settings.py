"""The ``octopus:`` settings block: its JSON Schema and typed access.

The block may appear at the top level, in ``defaults`` and in each environment;
the core merges them key by key into ``Environment.settings["octopus"]``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from trainmaster.config.settings import WaitSettings
from trainmaster.errors import ConfigError, InvalidInput

if TYPE_CHECKING:
    from trainmaster.config.model import Config, Environment
    from trainmaster_octopus.client import OctopusClient

__all__ = ["SCHEMA", "Settings", "client_for", "reset_clients"]

from trainmaster_octopus._schema import _NAME_MAP, SCHEMA  # noqa: F401 - re-exported


@dataclass(frozen=True)
class Settings(WaitSettings):
    """The merged ``octopus:`` block for the whole config or one environment."""

    POLL_DEFAULT = 10.0

    project_default: str
    raw: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def resolve(cls, config: Config, environment: Environment | None = None) -> Settings:
        """The block as ``environment`` sees it (top level, ``defaults`` and its own; ``None``: project-wide).

        :raises ConfigError: an ``octopus.packages`` value is not a valid Octopus package ID (exit 2),
            located where that key was written.
        """
        from trainmaster.config.settings import settings_block
        from trainmaster_octopus._wrap import check_package_id

        block = settings_block(config, "octopus", environment)
        for package_id in (block.get("packages") or {}).values():
            try:
                check_package_id(str(package_id))
            except InvalidInput as exc:
                raise block.error(str(exc), "packages") from None
        return cls(config.project, dict(block))

    @property
    def project(self) -> str:
        return str(self.get("project", self.project_default))

    def project_for(self, package: str) -> str:
        return str((self.get("projects", {}) or {}).get(package) or self.project)

    @property
    def projects(self) -> list[str]:
        """Every Octopus project of the train: ``project`` first, then those of ``projects``, sorted."""
        return list(dict.fromkeys([self.project, *sorted(set((self.get("projects", {}) or {}).values()))]))

    def package_id(self, package: str) -> str:
        return str((self.get("packages", {}) or {}).get(package) or package)

    def environment_name(self, env_name: str) -> str:
        if self.raw.get("environment"):
            return str(self.raw["environment"])
        return str((self.get("environments", {}) or {}).get(env_name) or env_name)


_CLIENTS: dict[tuple[str, str, str], OctopusClient] = {}


def client_for(settings: Settings, environ: Mapping[str, str] | None = None) -> OctopusClient:
    """The process-wide client for (url, space, credential): publisher, target and ledger share lookups."""
    from trainmaster_octopus.client import OctopusClient

    env = os.environ if environ is None else environ
    url = str(settings.get("url") or env.get("OCTOPUS_URL") or "")
    space = str(settings.get("space") or env.get("OCTOPUS_SPACE") or "")
    if not url:
        raise ConfigError("no Octopus server: set OCTOPUS_URL or octopus.url", key="octopus.url")
    cred = env.get("OCTOPUS_API_KEY") or env.get("OCTOPUS_ACCESS_TOKEN") or ""
    key = (url, space, str(hash(cred)))
    if key not in _CLIENTS:
        _CLIENTS[key] = OctopusClient.from_env(env, url=url, space=space or None)
    return _CLIENTS[key]


def reset_clients() -> None:
    """Forget shared clients and what they read (tests; a new command)."""
    from trainmaster_octopus._ledger import forget_progression

    _CLIENTS.clear()
    forget_progression()
