"""Hook specifications: the whole contract between the core and its plugins.

Every plugin, built-in or third-party, implements some of these hooks with the
:data:`hookimpl` marker (re-exported as ``trainmaster.hookimpl``) and is found
through the ``trainmaster`` entry-point group. ``docs/plugins.md`` documents
each hook; a meta-test keeps both in step.

Registration hooks receive a ``register`` callback rather than returning
values (the habit of simonw/llm). Context hooks are ``firstresult``. Event
hooks are broadcast to every plugin and can never change an outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from trainmaster.config.model import Config, Environment
    from trainmaster.interfaces import (
        Approval,
        CIContext,
        Deployment,
        LedgerFactory,
        PublisherFactory,
        Release,
        SecretResolver,
        TargetFactory,
    )

hookspec = pluggy.HookspecMarker("trainmaster")
hookimpl = pluggy.HookimplMarker("trainmaster")


# ---------------------------------------------------------------------------
# Registration hooks: called once per command, in plugin load order.
# ---------------------------------------------------------------------------


@hookspec
def register_targets(register: Callable[[str, TargetFactory], None]) -> None:
    """Register deployment targets.

    :param register: ``register(name, factory)``. ``name`` is what an
        environment's ``target:`` says (``local``, ``github``, ``azure-devops``,
        ``octopus``). ``factory(config, environment)`` returns an object
        implementing :class:`trainmaster.interfaces.Target`. A name registered
        twice is an error that names both plugins.

    Called once, when the CLI builds its registry. Implement it in a plugin
    that can deploy somewhere.
    """


@hookspec
def register_ledgers(register: Callable[[str, LedgerFactory], None]) -> None:
    """Register ledgers: where deployments and their outcomes are recorded and read.

    :param register: ``register(name, factory)``; ``factory(config, local)``
        returns a :class:`trainmaster.interfaces.RemoteLedger`. ``local`` is the
        built-in SQLite ledger, which always records the audit log; a remote
        ledger answers the train's questions ("did R succeed in E?") from its
        own system. The config's ``ledger:`` key picks one (default ``sqlite``).
    """


@hookspec
def register_publishers(register: Callable[[str, PublisherFactory], None]) -> None:
    """Register publishers: systems a release can be mirrored into.

    :param register: ``register(name, factory)``; ``factory(config)`` returns a
        :class:`trainmaster.interfaces.Publisher`. Like targets and ledgers, a
        publisher is built only when it is used, so listing it imports nothing
        heavy. The config's ``publish:`` list and ``trainmaster sync --to NAME``
        refer to publishers by name.
        See :class:`trainmaster.interfaces.Publisher` for the calls made
        (``ensure``, ``check``, ``fetch``). Publishing is not an event: a
        publisher reports what exists remotely and the core decides.
    """


@hookspec
def register_secret_resolvers(register: Callable[[str, SecretResolver], None]) -> None:
    """Register secret resolvers for reference schemes.

    :param register: ``register(scheme, resolver)``. A variable
        ``{secret: SCHEME:NAME}`` is resolved at deploy time by calling
        ``resolver(name, environ)``, which returns the secret's value or raises
        :class:`trainmaster.errors.InvalidInput` when it is missing. The
        built-in ``env`` scheme reads the process environment. Resolved values
        are masked in every output and never stored.
    """


@hookspec
def register_config_schema(register: Callable[[str, dict[str, Any]], None]) -> None:
    """Register the JSON Schema of a plugin's own settings block.

    :param register: ``register(block, schema)``. ``block`` is the key of the
        settings block (``github``, ``azure-devops``, ``octopus``), accepted at
        the top level of ``trainmaster.yaml``, in ``defaults`` and in each
        environment; ``schema`` is a JSON Schema object for that block. It is
        merged into ``trainmaster schema`` and used for validation, with the
        same file:line:column errors as the core keys.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add commands to the ``trainmaster`` CLI.

    :param cli: the root :class:`click.Group`; call ``cli.command()`` or
        ``cli.add_command()``. Keep imports inside the command functions so
        ``trainmaster --help`` stays fast.
    """


# ---------------------------------------------------------------------------
# Context hook: first non-None result wins.
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def ci_context(environ: Mapping[str, str]) -> CIContext | None:
    """Say which CI system this process runs in.

    :param environ: the process environment.
    :return: a :class:`trainmaster.interfaces.CIContext` when this plugin
        recognises the CI system (for example ``GITHUB_ACTIONS=true`` or
        ``TF_BUILD=True``), else ``None``. Stops at the first non-None result;
        the built-in fallback (``trylast``) describes a plain shell with the
        OS user as actor.
    """


@hookspec
def package_digests(config: Config) -> Iterable[str] | None:
    """Name the digests besides SHA-256 this plugin will need of every package under ``config``.

    :param config: the project's config.
    :return: hashlib names from :data:`trainmaster.store.FURTHER` (``"sha1"``, for a
        system that identifies packages by SHA-1), or ``None``. Every plugin is asked;
        the answers are joined.

    When ``release create`` or ``release fetch`` copies a file into the store, the core
    computes these in the same pass as the pin, on a thread of their own, and records
    them beside the stored file. A plugin reads one back with
    :func:`trainmaster.store.recorded_digest` (it may also record one it computed in a
    pass that found the pin, with :func:`trainmaster.store.record_digest`). A record
    saves a pass over the file, nothing more: it is data read back from disk, and a
    release made before the plugin asked has none, so a plugin hashes the file itself
    when there is no record or when a comparison with the record fails.
    """


# ---------------------------------------------------------------------------
# Event hooks: broadcast for notifications and summaries only. Each is called
# through the plugin manager one plugin at a time (traced like any hook call);
# an exception is a warning naming the plugin and the others still run. Every
# event receives ``config`` and ``secret_resolvers`` (the registered resolvers
# by scheme, to resolve a secret reference such as a webhook URL without
# registering anything again); take only the arguments you need.
# ---------------------------------------------------------------------------


@hookspec
def release_created(release: Release, config: Config, secret_resolvers: Mapping[str, SecretResolver]) -> None:
    """A release was committed to the ledger for the first time.

    :param release: the new release (no secret values).
    :param config: the loaded configuration.
    :param secret_resolvers: the registered secret resolvers by scheme
        (``resolver(name, environ)``).

    Not called when ``release create`` was a no-op. Exceptions are reported as
    warnings; an event hook can never change an outcome.
    """


@hookspec
def deployment_started(deployment: Deployment, release: Release, environment: Environment, config: Config,
                       secret_resolvers: Mapping[str, SecretResolver]) -> None:
    """A deployment passed its gates and is about to run.

    :param deployment: the ledger row, status ``in_progress``.
    :param release: the release being deployed.
    :param environment: the target environment.
    :param config: the loaded configuration.
    """


@hookspec
def deployment_finished(deployment: Deployment, release: Release, environment: Environment, config: Config,
                        secret_resolvers: Mapping[str, SecretResolver]) -> None:
    """A deployment reached a final status (``succeeded``, ``failed``, ``cancelled``).

    :param deployment: the ledger row with its final status, per-package
        outcomes and finish time. A rollback is a deployment of kind
        ``rollback`` and is announced the same way.
    :param release: the release that was deployed.
    :param environment: the environment.
    :param config: the loaded configuration.
    """


@hookspec
def approval_recorded(approval: Approval, release: Release, environment: Environment, config: Config,
                      secret_resolvers: Mapping[str, SecretResolver]) -> None:
    """An approval was recorded in the ledger.

    :param approval: who approved, when, with what comment, and whether it
        counts (an approval by the release's creator does not, unless
        ``allow_self_approval`` is set).
    :param release: the approved release.
    :param environment: the environment it was approved for.
    :param config: the loaded configuration.
    """


# ---------------------------------------------------------------------------
# Event hooks of the release duties (strategies, runbooks, quality gates,
# sign-off, performance verification): broadcast like the events above, after
# the ledger recorded what they announce.
# ---------------------------------------------------------------------------


@hookspec
def rollout_step_finished(step: dict[str, Any], deployment: Deployment, release: Release, environment: Environment,
                          config: Config, secret_resolvers: Mapping[str, SecretResolver]) -> None:
    """A step of a deployment strategy finished: an instance deployed, a slot switched, traffic routed.

    :param step: the recorded step: ``strategy`` (``rolling``, ``blue_green``, ``canary``), ``action``
        (``deploy``, ``switch``, ``route``), ``instance``, ``slot``, ``batch``, ``weight`` (percent, for
        ``route``), ``version``, ``release_id``, ``status`` (``succeeded`` or ``failed``), ``deployment``.
    :param deployment: the deployment (or rollback) the step belongs to, ``in_progress``.
    :param release: the release being rolled out.
    :param environment: the environment.
    """


@hookspec
def runbook_run_finished(run: dict[str, Any], release: Release, environment: Environment, config: Config,
                         secret_resolvers: Mapping[str, SecretResolver]) -> None:
    """A runbook run finished and was recorded.

    :param run: the recorded run: ``id``, ``runbook``, ``version``, ``release_id``, ``environment``,
        ``deployment`` (the one that put the release there), ``actor``, ``started_at``,
        ``finished_at``, ``status`` (``succeeded`` or ``failed``) and the masked ``excerpt``.
    :param release: the release it ran against (the one deployed in the environment).
    :param environment: the environment.
    """


@hookspec
def gate_sampled(sample: dict[str, Any], release: Release, environment: Environment, config: Config,
                 secret_resolvers: Mapping[str, SecretResolver]) -> None:
    """One sample of an environment's quality gates was recorded.

    :param sample: ``id`` (the ledger row), ``number`` (1 for the first sample of this deploy),
        ``passed`` (every gate succeeded in this sample) and ``results``, one
        ``{"gate", "ok", "detail"}`` per gate.
    :param release: the release about to be deployed.
    :param environment: the environment whose gates were sampled.
    """


@hookspec
def gates_finished(gates: dict[str, Any], release: Release, environment: Environment, config: Config,
                   secret_resolvers: Mapping[str, SecretResolver]) -> None:
    """An environment's quality gates were decided for a deployment: passed, or not met (exit 3).

    :param gates: ``passed``, ``samples`` (how many were taken), ``waited`` (``deploy --wait``) and
        ``failed``: the ``{"gate", "ok", "detail"}`` results that failed in the last sample.
    :param release: the release about to be deployed.
    :param environment: the environment.
    """


@hookspec
def signoff_recorded(signoff: dict[str, Any], release: Release, environment: Environment, config: Config,
                     secret_resolvers: Mapping[str, SecretResolver]) -> None:
    """A sign-off (user acceptance) was recorded, or revoked.

    :param signoff: ``id``, ``version``, ``environment``, ``actor``, ``at``, ``comment``, ``counts``,
        and ``revoked_at`` / ``revoked_by`` (set when this event announces a revocation).
    :param release: the release signed off.
    :param environment: the environment where it was accepted.
    """


@hookspec
def verification_finished(verification: dict[str, Any], deployment: Deployment, release: Release,
                          environment: Environment, config: Config,
                          secret_resolvers: Mapping[str, SecretResolver]) -> None:
    """A deployment's performance verification was recorded.

    :param verification: ``passed``, ``metrics`` (the numbers the command wrote), ``results`` (one
        ``{"metric", "value", "baseline", "ok", "reason"}`` per configured metric) and ``reason``
        (why it failed, or ``None``).
    :param deployment: the deployment verified, still ``in_progress`` (a failed verification fails it).
    :param release: the release deployed.
    :param environment: the environment.
    """
