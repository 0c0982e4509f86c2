"""The validated configuration: plain frozen dataclasses the rest of the core reads.

:func:`trainmaster.config.load_config` builds these from ``trainmaster.yaml``
after checking it against the JSON Schema. Nothing here touches YAML.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

OnFailure = Literal["rollback", "stop"]
Concurrency = Literal["wait", "refuse"]
Require = Literal["all", "any"]


@dataclass(frozen=True)
class Location:
    """Where something was written: file, 1-based line and column."""

    file: str
    line: int
    column: int


@dataclass(frozen=True)
class SecretRef:
    """A reference to a secret, such as ``env:PROD_DB_PASSWORD``; never the value."""

    ref: str

    @property
    def scheme(self) -> str:
        return self.ref.split(":", 1)[0]

    @property
    def name(self) -> str:
        return self.ref.split(":", 1)[1]


VariableValue = str | SecretRef


@dataclass(frozen=True)
class PackageSpec:
    """One entry of ``packages:``: a path or glob (relative to the config file)."""

    name: str
    path: str
    deploy: str | None = None
    smoke: str | None = None
    media_type: str | None = None
    location: Location | None = None


@dataclass(frozen=True)
class Monitor:
    """Post-deploy monitoring: run ``command`` every ``every`` seconds for ``for_`` seconds."""

    command: str
    every: float
    for_: float


@dataclass(frozen=True)
class Window:
    """A deployment window: allowed weekdays (0=Monday) and minutes of day [start, end)."""

    days: tuple[int, ...]
    start_minute: int
    end_minute: int
    timezone: str = "UTC"


@dataclass(frozen=True)
class Freeze:
    """A freeze: no deployment between ``start`` and ``end`` (aware datetimes)."""

    start: dt.datetime
    end: dt.datetime


@dataclass(frozen=True)
class Approvals:
    """``approvals: N`` or ``{count, from: [...]}``; an empty ``from_`` means anyone."""

    count: int
    from_: tuple[str, ...] = ()


@dataclass(frozen=True)
class Gate:
    """One quality gate: a ``command`` that exits 0, or an ``http`` URL answering ``expect`` with ``json`` values."""

    name: str
    command: str | None = None
    http: str | None = None
    expect: int = 200
    json: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Gates:
    """``gates:``: the checks, sampled together; ``delay``/``every``/``timeout`` apply with ``deploy --wait``."""

    checks: tuple[Gate, ...]
    delay: float = 0.0
    every: float = 30.0
    timeout: float = 600.0


@dataclass(frozen=True)
class Signoff:
    """``signoff:``: sign-offs needed before a release may leave the environment."""

    count: int
    from_: tuple[str, ...] = ()
    allow_self: bool = False


@dataclass(frozen=True)
class MetricBound:
    """Bounds of one verified metric; ``regress`` is a fraction (``0.1``) when ``relative``, else absolute."""

    max: float | None = None
    min: float | None = None
    regress: float | None = None
    relative: bool = False


@dataclass(frozen=True)
class Verify:
    """``verify:``: a command writing metrics to ``$TRAINMASTER_METRICS``, and their bounds."""

    command: str
    metrics: tuple[tuple[str, MetricBound], ...]


@dataclass(frozen=True)
class Runbook:
    """One entry of ``runbooks:``: a named operational process.

    Either a local ``command`` or ``remote``, the name of a runbook in the environment's
    target system (run through :meth:`trainmaster.interfaces.Target` ``run_runbook``).
    """

    name: str
    command: str | None
    environments: tuple[str, ...]
    approvals: Approvals | None = None
    timeout: float | None = None
    remote: str | None = None


@dataclass(frozen=True)
class Instance:
    """One entry of an environment's ``instances``: a name and its own plain variables."""

    name: str
    variables: dict[str, str] = field(default_factory=dict)


StrategyKind = Literal["rolling", "blue_green", "canary"]


@dataclass(frozen=True)
class Strategy:
    """``strategy:`` of an environment with instances (see :mod:`trainmaster.strategies`).

    ``rolling``: ``batch`` instances (or ``batch_percent`` of them) at a time, at most
    ``max_failed`` failed instances, ``pause`` seconds between batches. ``blue_green``:
    two ``slots`` and the ``switch`` command. ``canary``: traffic ``steps`` (percent, the
    last one 100), the ``route`` command and ``pause`` seconds of checks per step.
    """

    kind: StrategyKind
    batch: int = 0
    batch_percent: float | None = None
    max_failed: int = 0
    pause: float = 0.0
    slots: tuple[str, ...] = ()
    switch: str | None = None
    steps: tuple[int, ...] = ()
    route: str | None = None


@dataclass(frozen=True)
class Environment:
    """One environment of the train, with ``defaults`` and train-wide variables merged in.

    ``variables`` already holds train-wide ``variables`` overlaid by the
    environment's own. ``settings`` holds the adapter blocks (``github:``,
    ``octopus:``, …) given in ``defaults`` and in the environment, merged
    key by key over the top-level block of the same name.
    """

    name: str
    stage: str
    stage_index: int
    target: str = "local"
    deploy: str | None = None
    smoke: str | None = None
    variables: dict[str, VariableValue] = field(default_factory=dict)
    pass_env: tuple[str, ...] = ()
    on_failure: OnFailure = "stop"
    monitor: Monitor | None = None
    timeout: float | None = None
    approvals: Approvals | None = None
    allow_self_approval: bool = False
    windows: tuple[Window, ...] = ()
    freeze: tuple[Freeze, ...] = ()
    soak: float | None = None
    concurrency: Concurrency = "refuse"
    gates: Gates | None = None
    signoff: Signoff | None = None
    verify: Verify | None = None
    instances: tuple[Instance, ...] = ()
    strategy: Strategy | None = None
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    location: Location | None = None
    settings_locations: dict[str, dict[str, Location]] = field(default_factory=dict)
    """Per settings block: where each key's effective value was written ("" = the most specific block)."""
    key_locations: dict[str, Location] = field(default_factory=dict)
    """Where each key of the environment's own block was written (an error about one points there)."""


@dataclass(frozen=True)
class Stage:
    """A stage: one or more environments deployed independently."""

    name: str
    index: int
    environments: tuple[Environment, ...]
    require: Require = "all"


@dataclass(frozen=True)
class Notifier:
    """``notify:`` entry: a webhook URL (or a secret reference), the events it wants, their shape
    (``json``, ``slack`` or ``teams``) and the secret reference whose value signs each body."""

    webhook: VariableValue
    events: tuple[str, ...] = ()
    format: str = "json"
    secret: SecretRef | None = None


@dataclass(frozen=True)
class Config:
    """The whole validated configuration."""

    path: Path
    project: str
    packages: tuple[PackageSpec, ...]
    stages: tuple[Stage, ...]
    variables: dict[str, VariableValue] = field(default_factory=dict)
    ledger: str = "sqlite"
    publish: tuple[str, ...] = ()
    notify: tuple[Notifier, ...] = ()
    plugin_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    plugin_locations: dict[str, dict[str, Location]] = field(default_factory=dict)
    """Per top-level settings block: where it and each of its keys were written ("" = the block)."""
    state_dir: Path | None = None
    audit_key: SecretRef | None = None  # ``audit: {key: {secret: …}}``: events are HMAC-SHA256 with it
    retention_keep: int = 20
    """``retention: {keep: N}``: how many of the newest releases ``trainmaster gc`` keeps."""
    runbooks: tuple[Runbook, ...] = ()

    @property
    def root(self) -> Path:
        """The directory holding the config file; package paths are relative to it."""
        return self.path.parent

    @property
    def environments(self) -> tuple[Environment, ...]:
        return tuple(env for stage in self.stages for env in stage.environments)

    def environment(self, name: str) -> Environment | None:
        """The environment named exactly ``name`` (never a prefix match)."""
        for env in self.environments:
            if env.name == name:
                return env
        return None

    def runbook(self, name: str) -> Runbook | None:
        for book in self.runbooks:
            if book.name == name:
                return book
        return None

    def package(self, name: str) -> PackageSpec | None:
        for spec in self.packages:
            if spec.name == name:
                return spec
        return None
