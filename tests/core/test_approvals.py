"""Approval rounds through the CLI: listing, rejecting, revoking, and the gate that reads them."""

from __future__ import annotations

import json
import sqlite3

from tests.support.project import Project

TWO_APPROVERS = """\
project: demo
packages: {app: app.bin}
train:
  - name: test
    deploy: "true"
  - name: prod
    deploy: "true"
    approvals: {count: 2, from: [alice, bob, carol]}
"""


def _ready(p: Project) -> None:
    p.write("trainmaster.yaml", TWO_APPROVERS)
    p.write("app.bin", "x")
    p.ok("release", "create", "1.0.0")
    p.ok("deploy", "1.0.0", "--to", "test")


def _audit_kinds(p: Project) -> list[str]:
    conn = sqlite3.connect(p.state / "ledger.db")
    try:
        return [r[0] for r in conn.execute("SELECT kind FROM audit ORDER BY seq")]
    finally:
        conn.close()


def test_approvals_lists_pending_with_who_may_still_approve_and_given_with_reasons(bare_project: Project) -> None:
    p = bare_project
    _ready(p)
    p.ok("approve", "1.0.0", "--env", "prod", "--by", "alice", "--comment", "CHG-7")
    p.run("approve", "1.0.0", "--env", "prod", "--by", "mallory")  # recorded; does not count
    data = p.json("approvals")
    rid = data["pending"][0]["release_id"]
    assert data["pending"] == [{"environment": "prod", "version": "1.0.0", "release_id": rid, "required": 2,
                                "counted": 1, "may_approve": ["bob", "carol"], "rejected": None}]
    by_actor = {g["actor"]: g for g in data["given"]}
    assert by_actor["alice"]["counts"] is True and by_actor["alice"]["comment"] == "CHG-7"
    assert by_actor["mallory"]["counts"] is False and "alice, bob, carol only" in by_actor["mallory"]["reason"]
    text = p.ok("approvals", "--env", "prod").stdout
    assert "1/2 approvals  may approve: bob, carol" in text and "not counted" in text
    assert p.json("approvals", "--env", "test") == {"pending": [], "given": []}


def test_reject_blocks_until_a_new_round_of_approvals(bare_project: Project) -> None:
    p = bare_project
    _ready(p)
    p.ok("approve", "1.0.0", "--env", "prod", "--by", "alice")
    p.ok("approve", "1.0.0", "--env", "prod", "--by", "bob")
    rejected = json.loads(p.ok("reject", "1.0.0", "--env", "prod", "--by", "carol", "--comment", "CVE-1",
                               "--json").stdout)
    assert rejected["withdrawn"] == ["alice", "bob"]
    refused = p.run("deploy", "1.0.0", "--to", "prod")
    assert refused.returncode == 3
    assert "rejected in prod by carol" in refused.stderr and "CVE-1" in refused.stderr
    assert "has 0" in refused.stderr
    # the new round: approvals given after the rejection count, those before it do not
    p.ok("approve", "1.0.0", "--env", "prod", "--by", "alice")
    still = p.run("deploy", "1.0.0", "--to", "prod")
    assert still.returncode == 3 and "has 1" in still.stderr
    listing = p.json("approvals", "--env", "prod")
    assert listing["pending"][0]["rejected"]["actor"] == "carol"
    assert listing["pending"][0]["may_approve"] == ["bob", "carol"]
    old = [g for g in listing["given"] if g["kind"] == "approved" and not g["counts"]]
    assert {g["actor"] for g in old} == {"alice", "bob"} and "before carol rejected" in old[0]["reason"]
    p.ok("approve", "1.0.0", "--env", "prod", "--by", "bob")
    p.ok("deploy", "1.0.0", "--to", "prod")
    assert _audit_kinds(p).count("approval_rejected") == 1


def test_reject_blocks_even_where_no_approval_is_needed_and_outsiders_may_not_reject(bare_project: Project) -> None:
    p = bare_project
    _ready(p)
    outsider = p.run("reject", "1.0.0", "--env", "prod", "--by", "mallory")
    assert outsider.returncode == 3 and "may not reject" in outsider.stderr
    p.ok("release", "create", "1.0.1")
    p.ok("reject", "1.0.1", "--env", "test", "--by", "dave")
    refused = p.run("deploy", "1.0.1", "--to", "test")
    assert refused.returncode == 3 and "rejected in test by dave" in refused.stderr
    p.ok("approve", "1.0.1", "--env", "test", "--by", "erin")
    p.ok("deploy", "1.0.1", "--to", "test")


def test_revoke_withdraws_ones_own_approval(bare_project: Project) -> None:
    p = bare_project
    _ready(p)
    p.ok("approve", "1.0.0", "--env", "prod", "--by", "alice")
    p.ok("approve", "1.0.0", "--env", "prod", "--by", "bob")
    nothing = p.run("revoke", "1.0.0", "--env", "prod", "--by", "carol")
    assert nothing.returncode == 2 and "no approval of 1.0.0" in nothing.stderr
    revoked = json.loads(p.ok("revoke", "1.0.0", "--env", "prod", "--by", "bob", "--json").stdout)
    assert revoked == {"revoked": True, "version": "1.0.0", "environment": "prod", "actor": "bob",
                       "approvals": 1, "required": 2}
    assert p.run("deploy", "1.0.0", "--to", "prod").returncode == 3
    prod = next(e for e in p.json("status")["environments"] if e["name"] == "prod")
    gate = next(g for g in prod["gates"] if g["kind"] == "approvals")  # status agrees with the deploy's refusal
    assert gate["met"] is False and gate["detail"].startswith("1/2 approval(s)"), gate
    assert p.run("revoke", "1.0.0", "--env", "prod", "--by", "bob").returncode == 2  # already withdrawn
    again = p.ok("approve", "1.0.0", "--env", "prod", "--by", "bob")
    assert "approved 1.0.0" in again.stdout
    p.ok("deploy", "1.0.0", "--to", "prod")
    kinds = _audit_kinds(p)
    assert kinds.count("approval_revoked") == 1 and kinds.count("approval_recorded") == 3
