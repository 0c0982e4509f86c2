"""The ``azure-devops:`` settings block: its JSON Schema and :class:`Settings`.

The block may be given at the top level, in ``defaults`` and in an environment (key by
key over the top level). What it leaves out comes from the pipeline's predefined
variables: the organisation from the task's service connection
(``TRAINMASTER_AZURE_ORGANIZATION``) or ``SYSTEM_COLLECTIONURI``, the project from
``SYSTEM_TEAMPROJECT``. Every problem is a :class:`~trainmaster.errors.ConfigError`
(exit 2) naming the key; a value written in the config file is checked by :data:`SCHEMA`
when the file is loaded, so that error carries its line and column.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from trainmaster.errors import ConfigError
from trainmaster_azure._schema import _DURATION, BLOCK, ORGANIZATION_URL, SCHEMA  # noqa: F401 - re-exported

if TYPE_CHECKING:
    from trainmaster.config.model import Config, Environment


def _duration(value: Any, default: float) -> float:
    if value is None:
        return default
    from trainmaster.config._values import parse_duration

    return parse_duration(value)


@dataclass(frozen=True)
class Settings:
    """The ``azure-devops:`` block (top level, overlaid by ``defaults`` and the environment)."""

    organization: str
    project: str
    definition: str | int | None = None
    artifact: str | None = None
    token_variable: str | None = None
    poll_interval: float = 10.0
    timeout: float = 3600.0
    partially_succeeded: str = "failed"
    stage: str | None = None
    stages: dict[str, str] = field(default_factory=dict)
    config_file: str | None = None

    @classmethod
    def resolve(
        cls, config: Config, environment: Environment | None, environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Merge the block (and ``environment``'s overrides) with the pipeline's predefined variables.

        :raises ConfigError: no organisation or project, or an organisation that is not an
            ``http(s)://host/...`` URL (exit 2), naming the key or the variable it came from.
        """
        environ = os.environ if environ is None else environ
        block: dict[str, Any] = dict(config.plugin_settings.get(BLOCK) or {})
        if environment is not None:
            block.update(environment.settings.get(BLOCK) or {})
        where = str(config.path)
        org, source = "", ""
        for name, value in (
            (f"{BLOCK}.organization", block.get("organization")),
            ("TRAINMASTER_AZURE_ORGANIZATION", environ.get("TRAINMASTER_AZURE_ORGANIZATION")),  # the task's
            ("SYSTEM_COLLECTIONURI", environ.get("SYSTEM_COLLECTIONURI")),
        ):
            if value and str(value).strip():
                org, source = str(value).strip(), name
                break
        if not org:
            raise ConfigError(
                "no Azure DevOps organisation: set azure-devops.organization "
                "(https://dev.azure.com/ORG) or run inside Azure Pipelines (SYSTEM_COLLECTIONURI)",
                file=where,
                key="organization",
            )
        if not re.match(ORGANIZATION_URL, org):
            text = (
                f"{source} must be the organisation's URL with its scheme, such as "
                f"https://dev.azure.com/{org.strip('/').rsplit('/', 1)[-1] or 'ORG'}"
            )
            if source == f"{BLOCK}.organization":  # the schema's pattern reports it first, with its line
                raise ConfigError(text, file=where, key="organization")
            raise ConfigError(text + " (set azure-devops.organization to override it)", key="organization")
        project = str(block.get("project") or environ.get("SYSTEM_TEAMPROJECT") or "").strip()
        if not project:
            raise ConfigError(
                "no Azure DevOps project: set azure-devops.project or run inside Azure Pipelines "
                "(SYSTEM_TEAMPROJECT)",
                file=where,
                key="project",
            )
        definition = block.get("definition")
        if isinstance(definition, str) and definition.isdigit():
            definition = int(definition)
        return cls(
            organization=org.rstrip("/"),
            project=project,
            definition=definition,
            artifact=block.get("artifact"),
            token_variable=block.get("token_variable"),
            poll_interval=_duration(block.get("poll_interval"), 10.0),
            timeout=_duration(block.get("timeout"), 3600.0),
            partially_succeeded=str(block.get("partially_succeeded") or "failed"),
            stage=block.get("stage"),
            stages=dict(block.get("stages") or {}),
            config_file=where,
        )

    def stage_for(self, environment: str) -> str:
        """The classic release stage that deploys trainmaster environment ``environment``."""
        return self.stage or self.stages.get(environment) or environment

    def require_definition(self) -> str | int:
        """The definition's name or id; exit 2 when the block names none."""
        if self.definition in (None, ""):
            raise ConfigError(
                "azure-devops.definition is not set: name the classic release definition (its name or numeric id)",
                file=self.config_file,
                key="definition",
            )
        assert self.definition is not None
        return self.definition
