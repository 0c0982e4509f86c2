"""The built-in ``webhook`` notifier: posts a JSON event to each URL in ``notify:``.

A URL may be a secret reference (webhook URLs carry tokens). A failed delivery
is retried, then reported as a warning; it never fails a deployment.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from trainmaster.config.model import Config, Environment
from trainmaster.hookspecs import hookimpl
from trainmaster.interfaces import Approval, Deployment, Release, SecretResolver


def _deliver(config: Config, resolvers: Mapping[str, SecretResolver], kind: str, payload: dict[str, Any]) -> None:
    if not config.notify:
        return
    from trainmaster import webhook
    from trainmaster.variables import resolve_value

    event = webhook.build_event(kind, project=config.project, **payload)
    for notifier in config.notify:
        if notifier.events and kind not in notifier.events:
            continue
        try:
            url = resolve_value(notifier.webhook, resolvers, os.environ, where="notify: ")
        except Exception as exc:
            print(f"warning: webhook not sent: {exc}", file=sys.stderr)
            continue
        result = webhook.post_event(url, event)
        if not result.ok:
            print(f"warning: webhook not delivered: {result.error}", file=sys.stderr)


def _release(release: Release) -> dict[str, Any]:
    return {"version": release.version, "release_id": release.id,
            "packages": {p.name: p.digest for p in release.packages}}


@hookimpl
def release_created(release: Release, config: Config, secret_resolvers: Mapping[str, SecretResolver]) -> None:
    _deliver(config, secret_resolvers, "release_created", {"release": _release(release)})


@hookimpl
def deployment_started(deployment: Deployment, release: Release, environment: Environment, config: Config,
                       secret_resolvers: Mapping[str, SecretResolver]) -> None:
    _deliver(config, secret_resolvers, "deployment_started",
             {"release": _release(release), "environment": environment.name, "deployment": deployment.to_json()})


@hookimpl
def deployment_finished(deployment: Deployment, release: Release, environment: Environment, config: Config,
                        secret_resolvers: Mapping[str, SecretResolver]) -> None:
    _deliver(config, secret_resolvers, "deployment_finished",
             {"release": _release(release), "environment": environment.name, "deployment": deployment.to_json()})


@hookimpl
def approval_recorded(approval: Approval, release: Release, environment: Environment, config: Config,
                      secret_resolvers: Mapping[str, SecretResolver]) -> None:
    _deliver(config, secret_resolvers, "approval_recorded",
             {"release": _release(release), "environment": environment.name,
              "approval": {"actor": approval.actor, "at": approval.at, "comment": approval.comment,
                           "counts": approval.counts}})
