"""The ``terraform-cloud:`` settings block: its JSON Schema and :class:`Settings`.

The block may appear at the top level, in ``defaults`` and in each environment; the
environment's view (``Settings.resolve(config, environment)``) merges them key by key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from trainmaster.config.model import SecretRef
from trainmaster.config.settings import settings_block, token_from
from trainmaster.errors import ConfigError

if TYPE_CHECKING:
    from trainmaster.config.model import Config, Environment
    from trainmaster_terraform_cloud.client import TfcClient

__all__ = ["BLOCK", "SCHEMA", "TOKEN_VARIABLES", "Settings", "refuse_secrets"]

from trainmaster_terraform_cloud._schema import BLOCK, SCHEMA, TOKEN_VARIABLES  # noqa: F401 - re-exported


@dataclass(frozen=True)
class Settings:
    """The merged ``terraform-cloud:`` block for one environment (or project-wide)."""

    address: str
    organization: str
    workspace: str | None
    configuration_workspace: str
    package: str | None
    auto_apply: bool | None
    poll_interval: float
    timeout: float
    token_ref: str | None = None

    @classmethod
    def resolve(cls, config: Config, environment: Environment | None) -> Settings:
        block = settings_block(config, BLOCK, environment)
        org = block.get("organization")
        if not org:
            raise block.error("terraform-cloud needs an organization", "organization")
        host = str(block.get("hostname") or "app.terraform.io").rstrip("/")
        address = host if "://" in host else f"https://{host}"
        names = dict(block.get("workspaces") or {})
        first = config.environments[0].name if config.environments else ""
        workspace = None
        if environment is not None:
            workspace = str(block.get("workspace") or names.get(environment.name) or environment.name)
        top = settings_block(config, BLOCK)
        home = str(top.get("configuration_workspace") or names.get(first)
                   or _env_workspace(config, first) or first)
        return cls(address, str(org), workspace, home, block.get("package"), block.get("auto_apply"),
                   float(block.get("poll_interval") or 5), float(block.get("timeout") or 3600),
                   block.get("token") or None)

    def credential(self, environ: Mapping[str, str] | None = None) -> tuple[str, str]:
        """``(token, its source)``: the ``token`` secret reference, else ``TF_API_TOKEN``, else ``TFE_TOKEN``."""
        env = os.environ if environ is None else environ
        token, source = token_from(self.token_ref, TOKEN_VARIABLES, env, key=f"{BLOCK}.token")
        if not token:
            where = f"{source} is empty" if self.token_ref else "set TF_API_TOKEN (or TFE_TOKEN)"
            raise ConfigError(f"no HCP Terraform token: {where}, or point {BLOCK}.token at a secret reference",
                              key=f"{BLOCK}.token" if self.token_ref else "TF_API_TOKEN")
        return token, source

    def client(self, environ: Mapping[str, str] | None = None) -> TfcClient:
        from trainmaster_terraform_cloud.client import TfcClient

        token, source = self.credential(environ)
        return TfcClient(self.address, token, token_source=source)

    def run_url(self, workspace: str, run_id: str) -> str:
        return f"{self.address}/app/{self.organization}/workspaces/{workspace}/runs/{run_id}"


def _env_workspace(config: Config, name: str) -> str | None:
    env = next((e for e in config.environments if e.name == name), None)
    return (settings_block(config, BLOCK, env).get("workspace") if env else None) or None


def refuse_secrets(config: Config, environment: Environment) -> None:
    """Secret variables are refused (exit 2): HCP Terraform keeps run variables in its run records."""
    secrets = sorted(n for n, v in environment.variables.items() if isinstance(v, SecretRef))
    if secrets:
        block = settings_block(config, BLOCK, environment)
        raise block.error(
            f"environment {environment.name!r} has secret variable(s) {', '.join(secrets)}: the terraform-cloud "
            "target sends variables as run variables, which HCP Terraform stores in clear in the run; keep "
            "secrets as sensitive variables of the workspace (or a variable set) instead")
