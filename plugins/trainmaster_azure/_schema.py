"""The JSON Schema of the adapter's settings block, apart from :mod:`trainmaster_azure._settings` so that
registering it (every command, at start-up) imports nothing else."""

from __future__ import annotations

from typing import Any

BLOCK = "azure-devops"
ORGANIZATION_URL = r"^https?://[^/\s]"
"""An organisation (collection) URL: scheme and host, as in ``https://dev.azure.com/ORG``."""

_DURATION = {"type": ["number", "string"], "description": "seconds, or a duration such as 10s, 5m, 1h"}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "Azure DevOps classic releases (plugin trainmaster_azure; needs trainmaster[azure]).",
    "properties": {
        "organization": {
            "type": "string",
            "pattern": ORGANIZATION_URL,
            "description": "https://dev.azure.com/ORG (default: the task's service connection, "
            "else SYSTEM_COLLECTIONURI)",
        },
        "project": {"type": "string", "description": "project name or id (default SYSTEM_TEAMPROJECT)"},
        "definition": {
            "type": ["string", "integer"],
            "description": "classic release definition: name or id",
        },
        "artifact": {
            "type": "string",
            "description": "alias of the definition's build artifact to pin (default: the primary one)",
        },
        "token_variable": {
            "type": "string",
            "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
            "description": "environment variable holding the token (before SYSTEM_ACCESSTOKEN "
            "and AZURE_DEVOPS_EXT_PAT)",
        },
        "poll_interval": {**_DURATION, "description": "time between two status polls (default 10s)"},
        "timeout": {**_DURATION, "description": "how long to wait for a stage (default 1h)"},
        "partially_succeeded": {
            "enum": ["failed", "succeeded"],
            "description": "what a partiallySucceeded stage counts as (default failed)",
        },
        "stage": {
            "type": "string",
            "description": "the classic stage deploying this environment (default: the environment's name)",
        },
        "stages": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "environment name -> classic stage name",
        },
    },
}
