"""What ``gc`` keeps, in-process: a release being deployed, and store files a ``release create`` may be recording."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.support.decisions import InProcess
from trainmaster.retention import FRESH_SECONDS, plan_gc


def test_gc_keeps_a_release_with_a_deployment_in_progress(tmp_path: Path) -> None:
    p = InProcess(tmp_path / "proj", "- name: dev\n", top="retention: {keep: 1}\n")
    first = p.release("1.0.0", "one")
    p.release("1.1.0", "two")
    app = p.app()
    try:
        assert [r.version for r in plan_gc(app).releases] == ["1.0.0"]
        app.ledger.start_deployment(first, "dev", "deploy", "ci", {})  # its deployer is running
        plan = plan_gc(app)
        assert plan.releases == [] and plan.kept == {"1.0.0": "being deployed to dev", "1.1.0": "among the newest 1"}
    finally:
        app.ledger.close()


def test_gc_leaves_a_fresh_store_file_no_release_references_yet(tmp_path: Path) -> None:
    p = InProcess(tmp_path / "proj", "- name: dev\n")
    p.release("1.0.0", "one")
    app = p.app()
    try:
        stray = app.store.root / "sha256" / "ab" / ("ab" * 32)  # as a `release create` writes it, before its row
        stray.parent.mkdir(parents=True, exist_ok=True)
        stray.write_bytes(b"being recorded")
        assert plan_gc(app).blobs == []
        old = time.time() - FRESH_SECONDS - 60
        os.utime(stray, (old, old))
        assert plan_gc(app).blobs == [("sha256:" + "ab" * 32, stray, len(b"being recorded"))]
    finally:
        app.ledger.close()


def test_gc_keeps_the_log_of_every_deployment(tmp_path: Path) -> None:
    from trainmaster.deploylog import read_log
    from trainmaster.retention import apply

    p = InProcess(tmp_path / "proj", "- name: dev\n", top="retention: {keep: 1}\n")
    p.release("1.0.0", "one")
    p.release("1.1.0", "two")
    p.release("1.2.0", "three")
    p.deploy("1.0.0")
    app = p.app()
    try:
        old = time.time() - FRESH_SECONDS - 60  # an hour later
        for path in (app.store.root / "sha256").glob("*/*"):
            os.utime(path, (old, old))
        plan = plan_gc(app)
        assert [r.version for r in plan.releases] == ["1.1.0"]
        apply(app, plan, "ops", "retention")
        (dep,) = app.ledger.history("dev")
        log = read_log(app, dep)
        assert log is not None and b"deploy demo 1.0.0" in log
    finally:
        app.ledger.close()


def test_gc_says_why_it_keeps_a_deployed_release_even_among_the_newest(tmp_path: Path) -> None:
    p = InProcess(tmp_path / "proj", "- name: dev\n", top="retention: {keep: 2}\n")
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        p.release(version, version)
    p.deploy("1.2.0")
    app = p.app()
    try:
        plan = plan_gc(app)
        assert [r.version for r in plan.releases] == ["1.0.0"]
        assert plan.kept == {"1.1.0": "among the newest 2", "1.2.0": "deployed in dev"}
    finally:
        app.ledger.close()


def test_a_release_deleted_by_anyone_is_never_deployed(tmp_path: Path) -> None:
    from trainmaster.errors import InvalidInput
    from trainmaster.retention import apply, plan_delete

    p = InProcess(tmp_path / "proj", "- name: dev\n")
    release = p.release("1.0.0", "one")
    p.call(lambda app: apply(app, plan_delete(app, release), "ci", "a bad build"))
    with pytest.raises(InvalidInput, match=r"release 1.0.0 was deleted by ci at .* \(a bad build\)"):
        p.deploy("1.0.0")
