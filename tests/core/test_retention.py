"""``release delete`` and ``gc``: tombstones in the ledger and the audit chain, store files removed."""

from __future__ import annotations

import json
import sqlite3

from tests.support.project import Project

CONFIG = """\
project: demo
packages: {app: app.bin}
retention: {keep: 2}
train:
  - name: dev
    deploy: "true"
  - name: prod
    deploy: "true"
"""


def _release(p: Project, version: str) -> str:
    p.write("app.bin", f"content of {version}\n")
    return json.loads(p.ok("release", "create", version, "--json").stdout)["release"]["packages"][0]["digest"]


def _blob(p: Project, digest: str):  # type: ignore[no-untyped-def]
    hexd = digest.split(":")[1]
    return p.state / "store" / "sha256" / hexd[:2] / hexd


def _audit(p: Project, kind: str) -> list[str]:
    conn = sqlite3.connect(p.state / "ledger.db")
    try:
        return [r[0] for r in conn.execute("SELECT subject FROM audit WHERE kind = ? ORDER BY seq", (kind,))]
    finally:
        conn.close()


def test_release_delete_only_for_a_release_never_deployed(bare_project: Project) -> None:
    p = bare_project
    p.write("trainmaster.yaml", CONFIG)
    _release(p, "1.0.0")
    p.ok("deploy", "1.0.0", "--to", "dev")
    digest = _release(p, "1.1.0")
    before = p.snapshot()
    refused = p.run("release", "delete", "1.0.0")
    assert refused.returncode == 2 and "was deployed to dev" in refused.stderr
    assert p.snapshot() == before
    deleted = json.loads(p.ok("release", "delete", "1.1.0", "--json").stdout)
    assert deleted["releases"][0]["version"] == "1.1.0" and deleted["bytes"] == len("content of 1.1.0\n")
    assert not _blob(p, digest).exists()
    assert _audit(p, "release_deleted") == ["demo@1.1.0"]
    listed = {r["version"]: r["deleted"] for r in json.loads(p.ok("release", "list", "--json").stdout)["releases"]}
    assert listed == {"1.0.0": False, "1.1.0": True}  # the row stays, as a tombstone
    for args in (("deploy", "1.1.0", "--to", "dev"), ("release", "create", "1.1.0"),
                 ("release", "delete", "1.1.0")):
        again = p.run(*args)
        assert again.returncode == 2 and "release 1.1.0 was deleted" in again.stderr, args
    p.ok("audit", "verify")


def test_gc_keeps_the_newest_the_deployed_and_the_rollback_targets(bare_project: Project) -> None:
    p = bare_project
    p.write("trainmaster.yaml", CONFIG)
    digests = {v: _release(p, v) for v in ("1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0", "1.5.0")}
    for v in ("1.0.0", "1.1.0"):  # prod: 1.1.0 deployed, 1.0.0 its rollback target
        p.ok("deploy", v, "--to", "dev")
        p.ok("deploy", v, "--to", "prod")
    p.ok("deploy", "1.2.0", "--to", "dev")  # dev: 1.2.0 deployed, 1.1.0 its rollback target
    before = p.snapshot()
    dry = p.ok("gc", "--dry-run")
    assert "would delete release 1.3.0" in dry.stdout
    gone_bytes = len("content of 1.3.0\n")
    assert f"would delete 1 release(s) and 1 store file(s), {gone_bytes} bytes" in dry.stdout
    assert p.snapshot() == before  # a dry run changes nothing
    report = json.loads(p.ok("gc", "--json").stdout)
    assert [r["version"] for r in report["releases"]] == ["1.3.0"]
    assert report["kept"] == {"1.0.0": "rollback target of prod", "1.1.0": "rollback target of dev",
                              "1.2.0": "deployed in dev", "1.4.0": "among the newest 2", "1.5.0": "among the newest 2"}
    assert not _blob(p, digests["1.3.0"]).exists()
    assert all(_blob(p, digests[v]).exists() for v in digests if v != "1.3.0")
    assert _audit(p, "release_deleted") == ["demo@1.3.0"]
    refused = p.run("deploy", "1.3.0", "--to", "dev")
    assert refused.returncode == 2 and "release 1.3.0 was deleted" in refused.stderr
    assert json.loads(p.ok("gc", "--json").stdout)["releases"] == []  # nothing more to do
    p.ok("audit", "verify")
