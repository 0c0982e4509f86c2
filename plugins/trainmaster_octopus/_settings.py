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

_NAME_MAP = {"type": "object", "additionalProperties": {"type": "string", "minLength": 1}}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Octopus Deploy: where releases are pushed and deployed (see docs/octopus.md).",
    "additionalProperties": False,
    "properties": {
        "url": {"type": "string", "description": "Octopus server URL; default $OCTOPUS_URL."},
        "space": {
            "type": "string",
            "description": "Space name or id (Spaces-1); default $OCTOPUS_SPACE, else the default space.",
        },
        "project": {"type": "string", "description": "Octopus project; default the trainmaster project."},
        "channel": {"type": "string", "description": "Channel for new releases; default the project's."},
        "environment": {
            "type": "string",
            "description": "This environment's Octopus name (per environment).",
        },
        "environments": {**_NAME_MAP, "description": "trainmaster environment → Octopus environment name."},
        "packages": {**_NAME_MAP, "description": "package name → Octopus package ID (default: the name)."},
        "projects": {
            **_NAME_MAP,
            "description": "package (component) → Octopus project, for trains of "
            "components; unlisted packages go to `project`.",
        },
        "poll_interval": {"type": "number", "exclusiveMinimum": 0, "default": 10},
        "timeout": {"type": "number", "exclusiveMinimum": 0, "default": 3600},
        "cancel_on_timeout": {"type": "boolean", "default": False},
        "components": {
            "enum": ["sequential", "parallel"],
            "default": "sequential",
            "description": "With several projects (`projects:`): deploy them in declared order, each after "
            "the one before succeeded (default), or all at once and wait for them together.",
        },
        "build_information": {"type": "boolean", "default": True},
        "release_id_field": {
            "type": "string",
            "description": "A custom release field receiving the "
            "trainmaster release id (the project must define it).",
        },
        "prompted_variables": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Variables passed as prompted variables; default every variable of the "
            "environment that the project declares as prompted.",
        },
        "guided_failure": {"type": "boolean"},
    },
}


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
