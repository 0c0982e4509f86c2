"""Shared helpers for the Octopus adapter tests (no tests here).

* :func:`check_contract` validates a ``responses`` call against tests/contracts/octopus.swagger.json
  (method, path template, query parameters, JSON body), with the fakes' own :mod:`tests.fakes.contract`.
* :func:`make_release` builds a release from files in a temp directory.
* :func:`make_job` builds the :class:`DeployJob` the core hands to a target.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.contract import load
from trainmaster.config.model import Config, Environment, Stage
from trainmaster.interfaces import DeployJob, DeployOutcome, PackagePlan
from trainmaster.masking import Masker
from trainmaster.model import Package, Release


def check_contract(request: Any) -> str:
    """Raise ContractViolation unless ``request`` (a PreparedRequest) is an operation of the contract."""
    contract = load("octopus.swagger.json", True)
    parts = urlsplit(request.url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    match = contract.match_path(request.method, parts.path, query)
    contract.check_params(match, query)
    ctype = request.headers.get("Content-Type") or ""
    if request.body is not None and "json" in ctype:
        contract.check_body(match, json.loads(request.body), present=True, case_insensitive_props=True)
    elif match.operation.body_required and "multipart" not in ctype:
        contract.check_body(match, None, present=False)
    return match.operation.operation_id


def make_release(tmp: Path, files: dict[str, bytes], version: str = "1.2.3", project: str = "MyApp",
                 source: dict[str, Any] | None = None) -> tuple[Release, dict[str, Path]]:
    paths, packages = {}, []
    for file_name, data in files.items():
        name = file_name.split(".")[0]
        path = tmp / file_name
        path.write_bytes(data)
        paths[name] = path
        packages.append(Package(name, file_name, len(data), "sha256:" + hashlib.sha256(data).hexdigest()))
    meta = {"notes": "test release", "source": source or {}}
    return Release(project, version, tuple(packages), meta), paths


def make_config(tmp: Path, octopus: dict[str, Any], envs: list[tuple[str, dict[str, Any]]],
                project: str = "MyApp") -> Config:
    stages = []
    for i, (name, settings) in enumerate(envs):
        env = Environment(name=name, stage=name, stage_index=i, target="octopus",
                          settings={"octopus": {**octopus, **settings}})
        stages.append(Stage(name, i, (env,)))
    return Config(path=tmp / "trainmaster.yaml", project=project, packages=(), stages=tuple(stages),
                  plugin_settings={"octopus": octopus})


def make_job(config: Config, env_name: str, release: Release, files: dict[str, Path],
             variables: dict[str, str] | None = None, skip: tuple[str, ...] = (), kind: str = "deploy",
             out: list[str] | None = None) -> DeployJob:
    env = config.environment(env_name)
    assert env is not None
    plan = [PackagePlan(p, files[p.name], "skip" if p.name in skip else "deploy", p.digest) for p in release.packages]
    sink = out if out is not None else []
    checks = DeployOutcome("succeeded")
    return DeployJob(config=config, environment=env, release=release, deployment_id=1, kind=kind, plan=plan,
                     variables=dict(variables or {}), masker=Masker(), out=sink.append, ci=None,  # type: ignore[arg-type]
                     run_steps=lambda: checks, run_checks=lambda: checks,
                     run_command=lambda a, b: None)  # type: ignore[arg-type,return-value]
