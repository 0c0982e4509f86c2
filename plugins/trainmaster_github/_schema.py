"""The JSON Schema of the adapter's settings block, apart from :mod:`trainmaster_github._settings` so that
registering it (every command, at start-up) imports nothing else."""

from __future__ import annotations

from typing import Any

_TOP_ONLY_NOTE = " Top level only (not in defaults or an environment)."

SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "GitHub settings: the repository, the release tag, the token variable, deployments.",
    "additionalProperties": False,
    "properties": {
        "repository": {
            "type": "string",
            "pattern": "^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$",
            "description": "OWNER/NAME; default $GITHUB_REPOSITORY." + _TOP_ONLY_NOTE,
        },
        "tag": {
            "type": "string",
            "pattern": "\\{version\\}",
            "default": "v{version}",
            "description": "The release tag; {version} is replaced by the version." + _TOP_ONLY_NOTE,
        },
        "token_env": {
            "type": "string",
            "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
            "description": "Name of the variable holding the token (default GITHUB_TOKEN, then "
            "GH_TOKEN). The token itself never goes in this file." + _TOP_ONLY_NOTE,
        },
        "api_url": {
            "type": "string",
            "pattern": "^https?://",
            "description": "REST API base for GitHub Enterprise Server; default $GITHUB_API_URL." + _TOP_ONLY_NOTE,
        },
        "environment": {
            "type": "string",
            "minLength": 1,
            "description": "The GitHub environment name, when it differs from trainmaster's.",
        },
        "environment_url": {
            "type": "string",
            "pattern": "^https?://",
            "description": "Shown on the deployment and set as the environment-url output.",
        },
        "immutable": {
            "type": "boolean",
            "default": False,
            "description": "Expect GitHub to mark published releases immutable; warn if it does not.",
        },
    },
}
