"""The JSON Schema of the adapter's settings block, apart from :mod:`trainmaster_awx._settings` so that
registering it (every command, at start-up) imports nothing else."""

from __future__ import annotations

from typing import Any

from trainmaster.config.settings import wait_schema

NAME = "awx"
_KINDS = ("job_template", "workflow_job_template")
TOKEN_ENV = "CONTROLLER_OAUTH_TOKEN"
_NAME_OR_ID = {"anyOf": [{"type": "string", "minLength": 1}, {"type": "integer", "minimum": 1}]}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "AWX / Ansible Automation Platform controller: the template each deployment launches "
                   "(see docs/awx.md).",
    "additionalProperties": False,
    "properties": {
        "url": {"type": "string", "description": "Controller URL; default $CONTROLLER_HOST."},
        "job_template": {**_NAME_OR_ID, "description": "The job template to launch (name or id)."},
        "workflow_job_template": {**_NAME_OR_ID,
                                  "description": "The workflow job template to launch (name or id), instead of "
                                                 "a job template; its approval nodes stop the deployment (exit 3)."},
        "inventory": {"type": "integer", "minimum": 1,
                      "description": "Inventory id sent on launch (the template must prompt for it)."},
        "limit": {"type": "string", "description": "Host pattern sent on launch (the template must prompt for it)."},
        **wait_schema(token="A secret reference (e.g. env:AWX_PROD_TOKEN) for the OAuth2 token; "
                            "default $CONTROLLER_OAUTH_TOKEN.",
                      timeout="Seconds to wait for the job; then it is cancelled (exit 5)."),
        "stream_output": {"type": "boolean", "default": True, "description": "Print the job's stdout as it runs."},
    },
}
