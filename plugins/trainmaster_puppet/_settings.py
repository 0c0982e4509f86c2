"""The ``puppet-enterprise:`` settings block: its JSON Schema, typed access, and the offline checks.

The block may appear at the top level, in ``defaults`` and in each environment; the core merges
them key by key into ``Environment.settings["puppet-enterprise"]``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainmaster.config.settings import SettingsBlock, WaitSettings, settings_block, token_from

if TYPE_CHECKING:
    from trainmaster.config.model import Config, Environment
    from trainmaster_puppet.client import PuppetClient

__all__ = ["BLOCK", "SCHEMA", "SCOPES", "TOKEN_ENV", "Settings", "client_for", "reset_clients"]

from trainmaster_puppet._schema import _PORT, BLOCK, SCHEMA, SCOPES, TOKEN_ENV  # noqa: F401 - re-exported


@dataclass(frozen=True)
class Settings(WaitSettings):
    """The merged ``puppet-enterprise:`` block for the whole config or one environment."""

    block: SettingsBlock
    base: Path
    env_name: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def resolve(cls, config: Config, environment: Environment | None = None) -> Settings:
        """The block as ``environment`` sees it (``None``: the top-level block).

        :raises ConfigError: (exit 2, at the key) not exactly one scope (or a plan with a scope), a
            missing CA file, or a secret variable: the orchestrator keeps job descriptions and plan
            parameters in its job records, so secrets belong in Hiera (eyaml) or PE's own stores.
        """
        block = settings_block(config, BLOCK, environment)
        settings = cls(block, Path(config.path).parent, environment.name if environment else "", dict(block))
        if environment is not None:
            settings._check(environment)
        return settings

    def _check(self, env: Environment) -> None:
        from trainmaster.config.model import SecretRef

        scopes = [k for k in SCOPES if self.raw.get(k) is not None]
        if self.plan and scopes:
            raise self.block.error(f"environment {env.name!r}: puppet-enterprise.plan runs a plan, which chooses its "
                                   f"own targets; remove {scopes[0]} (or the plan)", scopes[0])
        if not self.plan and len(scopes) != 1:
            raise self.block.error(
                f"environment {env.name!r} (target puppet-enterprise) needs exactly one scope: node_group (a node "
                "group id), nodes (certnames) or query (PQL)" + (f"; it has {', '.join(scopes)}" if scopes else ""),
                scopes[1] if len(scopes) > 1 else None)
        ca = self.ca_file
        if ca is not None and not Path(ca).is_file():
            raise self.block.error(f"puppet-enterprise.ca_file {ca} is not a readable file (the PE CA certificate, "
                                   "e.g. /etc/puppetlabs/puppet/ssl/certs/ca.pem)", "ca_file")
        secrets = sorted(n for n, v in env.variables.items() if isinstance(v, SecretRef))
        if secrets:
            raise self.block.error(
                f"environment {env.name!r} has secret variable(s) {', '.join(secrets)}: the puppet-enterprise target "
                "would hand them to the orchestrator, which stores plan parameters in clear in its job records. Keep "
                "secrets in Hiera with eyaml, or in a secret store Puppet reads at catalog time, and remove them here")

    @property
    def plan(self) -> str | None:
        return self.raw.get("plan") or None

    @property
    def ca_file(self) -> str | None:
        value = self.raw.get("ca_file") or os.environ.get("PE_CA_FILE")
        return str(self.base / value) if value else None

    @property
    def code_environment(self) -> str:
        return str(self.get("code_environment", self.env_name))

    @property
    def scope(self) -> dict[str, Any]:
        """The orchestrator's ``scope`` object: exactly one of node_group, nodes, query."""
        return {k: self.raw[k] for k in SCOPES if self.raw.get(k) is not None}


_CLIENTS: dict[tuple[str, str, str], PuppetClient] = {}


def client_for(settings: Settings, environ: Mapping[str, str] | None = None) -> PuppetClient:
    """The process-wide client for (server, CA, token source)."""
    from trainmaster.errors import InvalidInput
    from trainmaster_puppet.client import PuppetClient

    env = os.environ if environ is None else environ
    server = str(settings.get("server") or env.get("PE_SERVER") or "")
    if not server:
        raise InvalidInput("no Puppet Enterprise server: set PE_SERVER or puppet-enterprise.server "
                           "(e.g. https://pe.example.com)")
    token, source = token_from(settings.get("token"), (TOKEN_ENV,), env, key="puppet-enterprise.token")
    key = (server, str(settings.ca_file), source + str(sorted((settings.get("ports") or {}).items())))
    if key not in _CLIENTS:
        _CLIENTS[key] = PuppetClient(server, token, ca_file=settings.ca_file, ports=settings.get("ports"),
                                     token_source=source)
    return _CLIENTS[key]


def reset_clients() -> None:
    """Forget shared clients (tests)."""
    _CLIENTS.clear()
