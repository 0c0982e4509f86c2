"""The JSON Schema of the adapter's settings block, apart from :mod:`trainmaster_puppet._settings` so that
registering it (every command, at start-up) imports nothing else."""

from __future__ import annotations

from typing import Any

from trainmaster.config.settings import wait_schema

BLOCK = "puppet-enterprise"
TOKEN_ENV = "PE_TOKEN"
SCOPES = ("node_group", "nodes", "query")
_PORT = {"type": "integer", "minimum": 1, "maximum": 65535}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Puppet Enterprise: Code Manager deploys the code environment, the orchestrator runs Puppet "
                   "on a scope or runs a plan (see docs/puppet-enterprise.md).",
    "additionalProperties": False,
    "properties": {
        "server": {"type": "string", "description": "The primary server URL (https://pe.example.com); "
                                                    "default $PE_SERVER."},
        "ca_file": {"type": "string", "description": "The PE CA certificate (PEM) that signed the server's "
                                                     "certificate, relative to the config file; default $PE_CA_FILE, "
                                                     "else the system's CAs."},
        "ports": {"type": "object", "additionalProperties": False,
                  "properties": {"code_manager": {**_PORT, "default": 8170}, "orchestrator": {**_PORT, "default": 8143},
                                 "classifier": {**_PORT, "default": 4433}}},
        "code_environment": {"type": "string", "minLength": 1,
                             "description": "The Puppet code environment (control-repo branch) of this environment; "
                                            "default the trainmaster environment's name."},
        "deploy_code": {"type": "boolean", "default": True,
                        "description": "Deploy the code environment with Code Manager (wait: true) first."},
        "node_group": {"type": "string", "minLength": 1, "description": "Scope: a classifier node group id."},
        "nodes": {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1,
                  "description": "Scope: a list of certnames."},
        "query": {"type": "string", "minLength": 1, "description": "Scope: a PQL query (nodes[certname] { … })."},
        "noop": {"type": "boolean", "default": False,
                 "description": "Run Puppet in no-op mode: a dry-run stage that reports and changes nothing."},
        "concurrency": {"type": "integer", "minimum": 1, "description": "Most nodes run at once."},
        "plan": {"type": "string", "minLength": 1,
                 "description": "Run this plan (command/plan_run) with the release manifest as its `trainmaster` "
                                "parameter, instead of a Puppet run on a scope."},
        **wait_schema(token="A secret reference (e.g. env:PE_PROD_TOKEN) for the RBAC token; default $PE_TOKEN. "
                            "Sent as X-Authentication.",
                      timeout="Seconds to wait for the job; then it is stopped (exit 5)."),
    },
}
