"""The JSON Schema of the adapter's settings block, apart from :mod:`trainmaster_octopus._settings` so that
registering it (every command, at start-up) imports nothing else."""

from __future__ import annotations

from typing import Any

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
