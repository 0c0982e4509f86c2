"""The JSON Schema of the adapter's settings block, apart from :mod:`trainmaster_terraform_cloud._settings` so that
registering it (every command, at start-up) imports nothing else."""

from __future__ import annotations

from typing import Any

from trainmaster.config.settings import wait_schema

BLOCK = "terraform-cloud"
TOKEN_VARIABLES = ("TF_API_TOKEN", "TFE_TOKEN")
SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "HCP Terraform / Terraform Enterprise (see docs/terraform-cloud.md).",
    "additionalProperties": False,
    "properties": {
        "hostname": {"type": "string", "minLength": 1, "default": "app.terraform.io",
                     "description": "HCP Terraform or your Terraform Enterprise host (a full URL is accepted)."},
        "organization": {"type": "string", "minLength": 1, "description": "The organization (required)."},
        "workspace": {"type": "string", "minLength": 1,
                      "description": "This environment's workspace (per environment); default `workspaces` "
                                     "or the environment's name."},
        "workspaces": {"type": "object", "additionalProperties": {"type": "string", "minLength": 1},
                       "description": "trainmaster environment -> workspace name."},
        "configuration_workspace": {"type": "string", "minLength": 1,
                                    "description": "The workspace that holds the release's configuration "
                                                   "version; default the first environment's workspace."},
        "package": {"type": "string", "minLength": 1,
                    "description": "The package holding the Terraform configuration (.tar.gz); default the "
                                   "only package, or the only one named *.tar.gz / *.tgz."},
        "auto_apply": {"type": "boolean",
                       "description": "Apply after a successful plan; default the workspace's setting."},
        **wait_schema(token="A secret reference (e.g. env:TFC_PROD_TOKEN) for the API token; default "
                            "$TF_API_TOKEN, then $TFE_TOKEN.",
                      timeout="Seconds to wait for a run; then it is cancelled or discarded (exit 5)."),
    },
}
