"""The built-in ``webhook`` notifier: posts each event to each URL in ``notify:`` that wants it.

A URL may be a secret reference (webhook URLs carry tokens). The body is the versioned
JSON event (``docs/schemas/webhook.schema.json``), or a Slack or Teams message
(``format:``, :mod:`trainmaster.webhook_formats`); with ``secret:`` it is signed
(:func:`trainmaster.webhook.signature`). A failed delivery is retried, then reported as
a warning; it never fails a deployment.
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
    from trainmaster.webhook_formats import shape

    event = webhook.build_event(kind, project=config.project, **payload)
    for notifier in config.notify:
        if notifier.events and kind not in notifier.events:
            continue
        try:
            url = resolve_value(notifier.webhook, resolvers, os.environ, where="notify: ")
            secret = resolve_value(notifier.secret, resolvers, os.environ, where="notify: secret: ") \
                if notifier.secret is not None else None
        except Exception as exc:
            print(f"warning: webhook not sent: {exc}", file=sys.stderr)
            continue
        if notifier.secret is not None and not secret:  # never sent unsigned when signing was asked for
            print("warning: webhook not sent: its signing secret (notify: secret:) resolved to an empty value",
                  file=sys.stderr)
            continue
        result = webhook.post_event(url, shape(event, notifier.format), secret=secret, kind=kind)
        if not result.ok:
            print(f"warning: webhook not delivered: {result.error}", file=sys.stderr)


def _release(release: Release) -> dict[str, Any]:
    shown: dict[str, Any] = {"version": release.version, "release_id": release.id,
                             "packages": {p.name: p.digest for p in release.packages}}
    if release.created_by:
        shown["created_by"] = release.created_by
    if release.metadata.get("notes"):
        shown["notes"] = str(release.metadata["notes"])
    return shown


def _about(kind: str, release: Release, environment: Environment, config: Config,
           resolvers: Mapping[str, SecretResolver], **record: Any) -> None:
    """Deliver the event ``kind`` about ``release`` in ``environment``, with ``record`` (``deployment=…``)."""
    _deliver(config, resolvers, kind, {"release": _release(release), "environment": environment.name, **record})


@hookimpl
def release_created(release: Release, config: Config, secret_resolvers: Mapping[str, SecretResolver]) -> None:
    _deliver(config, secret_resolvers, "release_created", {"release": _release(release)})


@hookimpl
def deployment_started(deployment: Deployment, release: Release, environment: Environment, config: Config,
                       secret_resolvers: Mapping[str, SecretResolver]) -> None:
    _about("deployment_started", release, environment, config, secret_resolvers, deployment=deployment.to_json())


@hookimpl
def deployment_finished(deployment: Deployment, release: Release, environment: Environment, config: Config,
                        secret_resolvers: Mapping[str, SecretResolver]) -> None:
    _about("deployment_finished", release, environment, config, secret_resolvers, deployment=deployment.to_json())


@hookimpl
def approval_recorded(approval: Approval, release: Release, environment: Environment, config: Config,
                      secret_resolvers: Mapping[str, SecretResolver]) -> None:
    _about("approval_recorded", release, environment, config, secret_resolvers,
           approval={"actor": approval.actor, "at": approval.at, "comment": approval.comment,
                     "counts": approval.counts})


@hookimpl
def rollout_step_finished(step: dict[str, Any], release: Release, environment: Environment, config: Config,
                          secret_resolvers: Mapping[str, SecretResolver]) -> None:
    _about("rollout_step_finished", release, environment, config, secret_resolvers, step=step)


@hookimpl
def runbook_run_finished(run: dict[str, Any], release: Release, environment: Environment, config: Config,
                         secret_resolvers: Mapping[str, SecretResolver]) -> None:
    _about("runbook_run_finished", release, environment, config, secret_resolvers, run=run)


@hookimpl
def gate_sampled(sample: dict[str, Any], release: Release, environment: Environment, config: Config,
                 secret_resolvers: Mapping[str, SecretResolver]) -> None:
    _about("gate_sampled", release, environment, config, secret_resolvers, sample=sample)


@hookimpl
def gates_finished(gates: dict[str, Any], release: Release, environment: Environment, config: Config,
                   secret_resolvers: Mapping[str, SecretResolver]) -> None:
    _about("gates_finished", release, environment, config, secret_resolvers, gates=gates)


@hookimpl
def signoff_recorded(signoff: dict[str, Any], release: Release, environment: Environment, config: Config,
                     secret_resolvers: Mapping[str, SecretResolver]) -> None:
    _about("signoff_recorded", release, environment, config, secret_resolvers, signoff=signoff)


@hookimpl
def verification_finished(verification: dict[str, Any], deployment: Deployment, release: Release,
                          environment: Environment, config: Config,
                          secret_resolvers: Mapping[str, SecretResolver]) -> None:
    _about("verification_finished", release, environment, config, secret_resolvers,
           deployment={"id": deployment.id, "kind": deployment.kind}, verification=verification)
