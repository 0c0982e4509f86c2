"""The objects plugins receive and the protocols they implement.

Targets deploy, ledgers answer the train's questions, publishers mirror a
release into another system, CI contexts talk to the runner. Policy (order,
gates, immutability, idempotency) stays in the core: an adapter reports what
exists and the core decides.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from trainmaster.model import Package, Release

if TYPE_CHECKING:
    from trainmaster.config.model import Config, Environment
    from trainmaster.masking import Masker
    from trainmaster.runner import CommandResult

__all__ = [
    "Approval",
    "CIContext",
    "Deployment",
    "DeployJob",
    "DeployOutcome",
    "DeploymentStatus",
    "LedgerFactory",
    "Package",
    "PackagePlan",
    "PublishResult",
    "Publisher",
    "PublisherFactory",
    "Release",
    "RemoteLedger",
    "RunbookJob",
    "SecretResolver",
    "Target",
    "TargetFactory",
]

DeploymentStatus = Literal["pending", "in_progress", "succeeded", "failed", "interrupted", "cancelled"]
"""A deployment's status; ``pending``: the remote system holds it (an approval there)."""


@dataclass
class Deployment:
    """One attempt to put a release into an environment (a ledger row)."""

    id: int
    release_id: str
    version: str
    environment: str
    kind: str
    status: DeploymentStatus
    actor: str
    started_at: str
    finished_at: str | None = None
    packages: dict[str, str] = field(default_factory=dict)
    remote: dict[str, Any] = field(default_factory=dict)
    excerpt: str = ""
    state: dict[str, str] = field(default_factory=dict)
    log: str = ""  # the digest of its masked output in the local store ("" while it runs, or remote)
    gates: list[str] = field(default_factory=list)  # the gates it met, one line each
    reason: str = ""  # why it failed, was cancelled or interrupted

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version,
            "release_id": self.release_id,
            "environment": self.environment,
            "kind": self.kind,
            "status": self.status,
            "actor": self.actor,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "packages": dict(self.packages),
            "remote": dict(self.remote),
        }


@dataclass(frozen=True)
class Approval:
    release_id: str
    version: str
    environment: str
    actor: str
    at: str
    comment: str = ""
    counts: bool = True


@dataclass
class PackagePlan:
    """What a deployment does with one package: ``deploy`` or ``skip`` (with the reason)."""

    package: Package
    path: Path
    action: Literal["deploy", "skip"]
    state: str
    reason: str = ""
    stored: Path | None = None
    """The package's file in the store, once ``path`` points at a link to it in the deployment's work folder."""


@dataclass
class DeployOutcome:
    """What a target reports back."""

    status: Literal["succeeded", "failed", "cancelled"]
    packages: dict[str, str] = field(default_factory=dict)
    remote: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    excerpt: str = ""


@dataclass
class DeployJob:
    """Everything a target needs to deploy one release to one environment.

    ``run_steps()`` runs the environment's local commands (package and
    environment ``deploy``, then ``smoke``, then ``monitor``) with a clean
    environment, masked live output and the configured timeout, and returns the
    outcome. The ``local`` target is exactly that call; a remote target wraps
    it (GitHub) or calls ``run_checks()`` after its remote deploy (smoke and
    monitor only).
    """

    config: Config
    environment: Environment
    release: Release
    deployment_id: int
    kind: str
    plan: list[PackagePlan]
    variables: dict[str, str]
    masker: Masker
    out: Callable[[str], None]
    ci: CIContext
    run_steps: Callable[[], DeployOutcome]
    run_checks: Callable[[], DeployOutcome]
    run_command: Callable[[str, str], CommandResult]
    force: bool = False
    progress: Callable[[str], None] | None = None
    package_urls: dict[str, str] = field(default_factory=dict)
    """Package name -> a download URL a publisher recorded for this release (``publish.download_urls``)."""
    audit_anchor: str = ""
    """The audit chain's head after this deployment's first ledger event, as one line
    (:mod:`trainmaster.anchors`); a remote target keeps it with the deployment it records there, so
    ``audit verify --against`` can compare the local chain with it ("" when there is none)."""

    @property
    def to_deploy(self) -> list[PackagePlan]:
        return [p for p in self.plan if p.action == "deploy"]

    def manifest(self) -> dict[str, Any]:
        """The release manifest an intermediary engine (AWX, HCP Terraform, Puppet) receives.

        The release, the environment, the deployment and every package with its digest
        (``digest`` as ``sha256:…``, and ``sha256`` as bare hex, which Ansible's
        ``get_url checksum`` and Terraform's ``filesha256`` compare with). ``url`` is where a
        publisher put the file (a GitHub release asset, the Octopus built-in feed), taken from
        the publications recorded with the release (:func:`trainmaster.publish.download_urls`),
        or null when no publisher reported one: the engine downloads it and checks the digest.
        """
        rel = self.release
        return {
            "release_id": rel.id, "project": rel.project, "version": rel.version,
            "environment": self.environment.name, "deployment_id": self.deployment_id, "kind": self.kind,
            "packages": [{"name": p.name, "file_name": p.file_name, "size": p.size, "digest": p.digest,
                          "sha256": p.digest.removeprefix("sha256:"), "media_type": p.media_type,
                          "url": self.package_urls.get(p.name)}
                         for p in rel.packages],
        }


@dataclass
class RunbookJob:
    """A remote runbook to run in one environment (``runbooks: {NAME: {remote: …}}``).

    The core has checked everything a local runbook needs (the runbook may run there, the
    release deployed there re-hashed, variables resolved, approvals met, the environment's
    lock taken) before the target is called. The target calls ``begin()`` once it has checked
    its own side (the remote runbook exists) and right before it creates or adopts the remote
    run: that records the run (``runbook_runs``) and returns its id; a target that raises
    before ``begin()`` leaves no record (a bad input changes nothing). ``remote`` is
    the runbook's name in the remote system; ``timeout`` the runbook's own (None: the
    target's). ``out`` prints a line of the run's log (the core masks secrets in it).
    ``marker(run_id)`` is what a target writes where the remote run keeps a comment: it names the
    runbook, the local run, the release and the environment. ``resumes`` is the id of the previous
    run of this runbook against this release there that did not finish here (its runner was
    killed, it waited on someone in the remote system, or the remote system became unreachable):
    its remote run, found by ``marker(resumes)``, is adopted (running or finished) instead of
    starting another. Without it, a remote run of this runbook, release and environment that is
    still running (``marker_prefix``) is adopted too; a finished one never is.
    """

    config: Config
    environment: Environment
    release: Release
    deployment_id: int
    begin: Callable[[], int]
    name: str
    remote: str
    timeout: float | None
    variables: dict[str, str]
    out: Callable[[str], None]
    resumes: int | None = None

    @property
    def marker_prefix(self) -> str:
        return f"trainmaster runbook {self.name} run #"

    def marker(self, run_id: int) -> str:
        return f"{self.marker_prefix}{run_id} against {self.release.id} in {self.environment.name}"


class Target(Protocol):
    """A deployment target (``local``, ``github``, ``azure-devops``, ``octopus``)."""

    def validate(self) -> None:
        """Check remote prerequisites for ``trainmaster validate``; raise a TrainmasterError."""

    def deploy(self, job: DeployJob) -> DeployOutcome:
        """Deploy ``job.release`` to ``job.environment`` and report the outcome."""

    # Optional: ``preflight(release) -> None``, called by ``deploy``, ``promote`` and ``rollback``
    # after the gates and before the deployment's first ledger row: one cheap authenticated read
    # that checks the credentials (raise a TrainmasterError, e.g. exit 2 for a rejected token,
    # and nothing is written). Keep what it read for ``deploy`` so the command makes no extra call.
    # Optional: ``whole_environment = (why, instead)``, for an engine that deploys a whole
    # environment in one job: an environment with ``instances`` or a ``strategy`` is then refused
    # (exit 2 at its line, naming the target, ``why`` and what to use ``instead``) when the target
    # is made, before anything changes (:func:`trainmaster.strategies.refuse_strategy`).
    # Optional: ``validate_remote() -> None``, the checks that need the network, run by
    # ``trainmaster validate --remote`` after ``validate()`` (raise a TrainmasterError).
    # Optional: ``approve(approval, release) -> str``, called by ``trainmaster approve`` after
    # an approval that counts was recorded, to carry it into the remote system (a pending
    # approval of a stage, a workflow's approval node, a run waiting for confirmation).
    # Returns a line for the user ("" when nothing was waiting there); a TrainmasterError
    # is reported as a warning and the local approval stands.
    # Optional: ``run_runbook(job: RunbookJob) -> DeployOutcome``, called by ``trainmaster run``
    # for a runbook with ``remote: NAME``: run that runbook in the remote system, wait for it
    # (cancel it on Ctrl-C/SIGTERM and on ``job.timeout``, reporting ``cancelled``/``failed``),
    # print its log through ``job.out`` and report the outcome (``excerpt``: the log's tail,
    # ``remote``: its references). A run whose create answer was lost, or whose runner died,
    # is adopted on a re-run (``job.marker``), never started twice. A target without it
    # refuses remote runbooks (exit 2 at ``validate`` and ``run``).


TargetFactory = Callable[["Config", "Environment"], Target]


class RemoteLedger(Protocol):
    """A system that answers the train's questions from its own records."""

    def succeeded(self, release: Release, environment: str) -> str | None:
        """The finish time (ISO 8601) of a successful deployment of ``release`` to ``environment``, or None."""

    def history(self, environment: str | None, limit: int | None) -> list[Deployment]:
        """Deployments, oldest first."""

    def current(self, environment: str) -> Deployment | None:
        """The latest deployment attempt in ``environment``."""

    # Optional: ``last_success(environment, *, exclude_release=None) -> Deployment | None``, the
    # newest succeeded deployment there (of another release than ``exclude_release``); without it
    # the core scans ``history``. A remote ledger that pays per deployment read stops early.
    #
    # Optional: ``anchors(environments) -> Iterable[tuple[str, object]]``: the audit anchors the
    # targets recorded with their deployments to those trainmaster environments (their
    # ``DeployJob.audit_anchor``), as ``(where, text)`` pairs read in one paged pass; ``where``
    # names the remote record for messages. The core validates every text (remote data).
    # ``audit verify --against NAME`` uses the ledger registered as NAME.
    #
    # Optional: ``approvals_enforced_remotely(environment) -> bool``. When it returns True
    # the remote system enforces the environment's approvals (GitHub's required reviewers
    # hold the job), and the core's approvals gate does not count local approvals.


LedgerFactory = Callable[["Config", Any], RemoteLedger]


@dataclass
class PublishResult:
    """A publisher's report (with a one-line ``detail``).

    From :meth:`Publisher.ensure`: ``created`` (it is there now), ``exists``
    (it was already there, identical), ``deferred`` (it will be created by a
    later step of the CI system, such as a classic Azure release created after
    its build), or ``conflict`` (a different release holds that version).
    From :meth:`Publisher.check`: ``exists``, ``conflict`` (drift), or
    ``missing`` (not there yet; ``sync`` would create it — not drift).
    ``remote`` holds the remote references (ids, URLs, wrapper digests); the
    core records it in the ledger beside the release.
    """

    state: Literal["created", "exists", "deferred", "conflict", "missing"]
    detail: str = ""
    url: str | None = None
    remote: dict[str, Any] = field(default_factory=dict)


class Publisher(Protocol):
    """A system a release can be mirrored into.

    Optional: ``verifies_uploads = True`` when ``ensure`` checks the digest of what it uploaded
    (hashing each package in the same pass as it sends it, or from the server's own digest of what
    it received) and, on a mismatch, deletes what it uploaded and raises ``DigestMismatch``: ``sync``
    then hands it the store's files without re-hashing them first (one pass over the data).

    Optional: after a ``fetch`` that returned a release, a ``fetched`` attribute holding the
    :class:`PublishResult` (``exists``) of where it was found: the core records it with the
    release, so a runner that fetched the release knows its download URLs (``package_urls``).
    """

    def ensure(self, release: Release, files: Mapping[str, Path], config: Config) -> PublishResult:
        """Make sure ``release`` exists remotely; ``files`` maps package name to its verified file."""

    def check(self, release: Release, config: Config) -> PublishResult:
        """Report whether the remote copy matches (``exists``), is ``missing``, or drifted (``conflict``)."""

    def fetch(self, version: str, dest: Path, config: Config) -> tuple[Release, dict[str, Path]] | None:
        """Download a published release record and its files into ``dest``; None if absent."""


PublisherFactory = Callable[["Config"], Publisher]
"""``factory(config)`` builds a :class:`Publisher` when a release is published, synced or fetched."""


SecretResolver = Callable[[str, Mapping[str, str]], str]


class CIContext(Protocol):
    """The CI system this process runs in."""

    name: str
    in_ci: bool

    def actor(self) -> str:
        """Who is acting: the CI's user, or the OS user outside CI."""

    def source(self) -> dict[str, Any]:
        """Release metadata: commit, branch, build id and URL, CI system."""

    def set_output(self, name: str, value: str) -> None: ...

    def mask(self, value: str) -> None: ...

    def summary(self, markdown: str) -> None: ...

    # Optional: ``writes_summary: bool`` (default True). False when ``summary`` writes nothing
    # (no summary file in this job): the core then skips reading the train's status for it.

    def error(self, message: str, *, file: str | None = None, line: int | None = None,
              column: int | None = None) -> None: ...

    def warning(self, message: str) -> None: ...

    def data(self, text: str) -> str:
        """``text`` (data: notes, remote values, echoed arguments) made inert for this CI's log.

        The runner must never read a line of it as a command; the text stays readable. The
        CLI passes all its human output through this (``trainmaster._output.echo``); a
        context outside CI returns ``text`` unchanged. Build it from
        :func:`trainmaster._output.defuse` and :func:`trainmaster._output.obeyable`.
        """

    def complete(self, exit_code: int, message: str) -> None:
        """Called once, last, with the command's exit code (Azure's ``task.complete``)."""
