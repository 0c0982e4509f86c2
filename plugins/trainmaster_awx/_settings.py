"""The ``awx:`` settings block: its JSON Schema, typed access, and the checks that need no network.

The block may appear at the top level, in ``defaults`` and in each environment; the core merges
them key by key into ``Environment.settings["awx"]``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from trainmaster.config.settings import WaitSettings, token_from
from trainmaster.errors import ConfigError

if TYPE_CHECKING:
    from trainmaster.config.model import Config, Environment
    from trainmaster_awx.client import AwxClient

__all__ = ["NAME", "SCHEMA", "TOKEN_ENV", "Settings", "client_for"]

from trainmaster_awx._schema import _KINDS, _NAME_OR_ID, NAME, SCHEMA, TOKEN_ENV  # noqa: F401 - re-exported


@dataclass(frozen=True)
class Settings(WaitSettings):
    """The merged ``awx:`` block for the whole config or one environment."""

    raw: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def resolve(cls, config: Config, environment: Environment | None = None) -> Settings:
        """The top-level block overridden key by key by ``environment``'s (``None``: project-wide).

        :raises ConfigError: (exit 2, located at the environment) no template or both kinds are set,
            or the environment has a secret variable: AWX keeps ``extra_vars`` in its job records, so
            secrets belong in AWX credentials.
        """
        block = dict(config.plugin_settings.get(NAME) or {})
        if environment is not None:
            own = dict(environment.settings.get(NAME) or {})  # already merged over the top-level block
            top = config.plugin_settings.get(NAME) or {}
            here = [k for k in _KINDS if own.get(k) is not None and own.get(k) != top.get(k)]
            if len(here) == 1:  # a template kind chosen for this environment replaces the other kind
                for other in _KINDS:
                    if other != here[0]:
                        block.pop(other, None)
                        own.pop(other, None)
            block.update(own)
        settings = cls(block)
        if environment is not None:
            settings._check(config, environment)
        return settings

    def _check(self, config: Config, env: Environment) -> None:
        from trainmaster.config.model import SecretRef

        where = env.location
        loc: dict[str, Any] = {"file": where.file if where else str(config.path), "line": where.line if where else None,
               "column": where.column if where else None}
        has_job, has_wf = self.raw.get("job_template") is not None, self.raw.get("workflow_job_template") is not None
        if has_job == has_wf:
            raise ConfigError(f"environment {env.name!r} (target awx) needs exactly one of awx.job_template and "
                              "awx.workflow_job_template" + (" (both are set)" if has_job else ""),
                              key="awx.job_template", **loc)
        secrets = sorted(name for name, value in env.variables.items() if isinstance(value, SecretRef))
        if secrets:
            raise ConfigError(f"environment {env.name!r} (target awx) has secret variable(s) {', '.join(secrets)}: "
                              "AWX stores extra_vars in clear in its job records, so secrets are not sent there. "
                              "Put them in an AWX credential attached to the template (a custom credential type "
                              "can inject them as extra vars or environment variables) and remove them here",
                              key=f"variables.{secrets[0]}", **loc)

    @property
    def template(self) -> tuple[str, str]:
        """``(kind, name or id)``: kind is ``job_template`` or ``workflow_job_template``."""
        if self.raw.get("workflow_job_template") is not None:
            return "workflow_job_template", str(self.raw["workflow_job_template"])
        return "job_template", str(self.get("job_template", ""))


_CLIENTS: dict[tuple[str, str], AwxClient] = {}


def client_for(settings: Settings, environ: Mapping[str, str] | None = None) -> AwxClient:
    """The process-wide client for (url, token source): the target and the approval hook share it."""
    from trainmaster_awx.client import AwxClient

    env = os.environ if environ is None else environ
    url = str(settings.get("url") or env.get("CONTROLLER_HOST") or "")
    token, source = token_from(settings.get("token"), (TOKEN_ENV,), env, key="awx.token")
    key = (url, source)
    if key not in _CLIENTS:
        _CLIENTS[key] = AwxClient(url, token, token_source=source)
    return _CLIENTS[key]


def reset_clients() -> None:
    """Forget shared clients (tests)."""
    _CLIENTS.clear()
