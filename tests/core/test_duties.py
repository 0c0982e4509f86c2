"""The release duties through the real CLI: runbooks, quality gates, sign-off, performance verification."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support.project import SECRET, Project

DEPLOY = ('mkdir -p "$DEST/$TRAINMASTER_ENVIRONMENT" && '
          'cp "$TRAINMASTER_PACKAGE_APP" "$DEST/$TRAINMASTER_ENVIRONMENT/app"')


def _project(p: Project, extra_env: str = "", top: str = "", dev: str = "", test: str = "") -> Project:
    p.write("trainmaster.yaml", f"""\
        project: demo
        packages: {{app: app.bin}}
        defaults:
          deploy: '{DEPLOY}'
          pass_env: [DEST]
          {extra_env}
        train:
          - name: dev
            {dev}
          - name: test
            {test}
          - name: prod
            variables: {{DB_PASSWORD: {{secret: env:PROD_DB_PASSWORD}}}}
        {top}
        """)
    p.write("app.bin", "v1\n")
    return p


def _rows(p: Project, table: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(p.state / "ledger.db")
    try:
        return conn.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
    finally:
        conn.close()


def _dest(p: Project) -> Path:
    return Path(p.env["DEST"])


# -- runbooks ----------------------------------------------------------------------------------

RUNBOOKS = """runbooks:
          migrate-db:
            command: sh migrate.sh
            environments: [dev, prod]
            approvals: {count: 1, from: [alice, bob]}
            timeout: 30s
          broken:
            command: 'echo "about to fail with $DB_PASSWORD"; exit 7'
            environments: [prod]
"""
MIGRATE = """\
echo "migrating $TRAINMASTER_VERSION with $DB_PASSWORD"
cat "$TRAINMASTER_PACKAGE_APP" > "$DEST/migrated-$TRAINMASTER_ENVIRONMENT"
"""


def test_runbook_runs_against_the_deployed_release_with_approvals(bare_project: Project) -> None:
    p = _project(bare_project, top=RUNBOOKS)
    p.write("migrate.sh", MIGRATE)
    p.ok("release", "create", "1.0.0")
    nothing = p.run("run", "migrate-db", "--env", "prod")
    assert nothing.returncode == 3 and "nothing has succeeded in prod" in nothing.stderr
    unknown = p.run("run", "migrate-dbb", "--env", "prod")
    assert unknown.returncode == 2 and "did you mean 'migrate-db'" in unknown.stderr
    for env in ("dev", "test", "prod"):
        p.ok("deploy", "1.0.0", "--to", env)
    p.write("app.bin", "v2\n")  # the runbook runs the *deployed* release's verified package, not the build
    p.ok("release", "create", "1.1.0")
    p.ok("deploy", "1.1.0", "--to", "dev")
    elsewhere = p.run("run", "migrate-db", "--env", "test")
    assert elsewhere.returncode == 3 and "may not run in test" in elsewhere.stderr

    before = p.snapshot()
    unapproved = p.run("run", "migrate-db", "--env", "prod")
    assert unapproved.returncode == 3 and "needs 1 approval(s) from alice, bob" in unapproved.stderr
    assert p.snapshot() == before and not (_dest(p) / "migrated-prod").exists()
    mallory = p.run("run", "migrate-db", "--env", "prod", "--approve", "--by", "mallory")
    assert mallory.returncode == 3 and "does not count" in mallory.stderr
    p.ok("run", "migrate-db", "--env", "prod", "--approve", "--by", "alice", "--comment", "CHG-7")

    done = p.ok("run", "migrate-db", "--env", "prod")
    assert (_dest(p) / "migrated-prod").read_text() == "v1\n"  # 1.0.0 is what prod holds
    assert "migrating 1.0.0 with ***" in done.stdout and SECRET not in done.stdout + done.stderr
    per_env = p.run("run", "migrate-db", "--env", "dev")  # an approval is per runbook, release and environment
    assert per_env.returncode == 3 and "against 1.1.0 in dev, has 0" in per_env.stderr
    p.ok("run", "migrate-db", "--env", "dev", "--approve", "--by", "bob")
    p.ok("run", "migrate-db", "--env", "dev")
    assert (_dest(p) / "migrated-dev").read_text() == "v2\n"

    runs = p.json("runs", "--env", "prod")["runs"]
    assert [(r["runbook"], r["version"], r["status"]) for r in runs] == [("migrate-db", "1.0.0", "succeeded")]
    assert "migrating 1.0.0 with ***" in runs[0]["excerpt"] and runs[0]["actor"]
    failed = p.run("run", "broken", "--env", "prod", "--json")
    assert failed.returncode == 1 and json.loads(failed.stdout)["run"]["status"] == "failed"
    assert SECRET not in failed.stdout + failed.stderr
    assert SECRET not in str(_rows(p, "runbook_runs")) + str(_rows(p, "audit"))
    p.ok("audit", "verify")


def test_runbook_approval_is_per_release(bare_project: Project) -> None:
    p = _project(bare_project, top=RUNBOOKS.replace("environments: [dev, prod]", "environments: [dev]"))
    p.write("migrate.sh", MIGRATE)
    p.ok("release", "create", "1.0.0")
    p.ok("deploy", "1.0.0", "--to", "dev")
    p.ok("run", "migrate-db", "--env", "dev", "--approve", "--by", "bob")
    p.ok("run", "migrate-db", "--env", "dev")
    p.write("app.bin", "v2\n")
    p.ok("release", "create", "1.1.0")
    p.ok("deploy", "1.1.0", "--to", "dev")
    again = p.run("run", "migrate-db", "--env", "dev")
    assert again.returncode == 3 and "against 1.1.0 in dev, has 0" in again.stderr


def test_an_edited_runbook_run_is_caught(bare_project: Project) -> None:
    p = _project(bare_project, top=RUNBOOKS.replace("approvals: {count: 1, from: [alice, bob]}", ""))
    p.write("migrate.sh", MIGRATE)
    p.ok("release", "create", "1.0.0")
    p.ok("deploy", "1.0.0", "--to", "dev")
    p.ok("run", "migrate-db", "--env", "dev")
    conn = sqlite3.connect(p.state / "ledger.db")
    conn.execute("UPDATE runbook_runs SET status = 'failed'")
    conn.commit()
    conn.close()
    assert p.run("runs").returncode == 4
    assert p.run("audit", "verify").returncode == 4


# -- quality gates --------------------------------------------------------------------------


class _Health(BaseHTTPRequestHandler):
    answer: dict[str, object] = {"status": 200, "body": {"state": "green"}}

    def do_GET(self) -> None:  # noqa: N802
        body = json.dumps(self.answer["body"]).encode()
        self.send_response(int(self.answer["status"]))  # type: ignore[call-overload]
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health() -> Iterator[tuple[str, type[_Health]]]:
    handler = type("Health", (_Health,), {"answer": {"status": 200, "body": {"state": "green"}}})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/health", handler
    server.shutdown()
    server.server_close()


def test_gates_block_until_all_pass_in_one_sample(bare_project: Project, health: tuple[str, type[_Health]]) -> None:
    url, handler = health
    gates = f"""gates:
              checks:
                - {{http: "{url}", expect: 200, json: {{state: green}}}}
                - {{name: counter, command: sh counter.sh}}
              every: 0.05
              timeout: 30s"""
    p = _project(bare_project, dev=gates)
    p.write("counter.sh", 'n=$(cat "$DEST/count" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$DEST/count"\n'
                          'test $n -ge 3\n')
    _dest(p).mkdir(parents=True)
    p.ok("release", "create", "1.0.0")
    handler.answer = {"status": 200, "body": {"state": "red"}}
    refused = p.run("deploy", "1.0.0", "--to", "dev")
    assert refused.returncode == 3, refused.stderr
    assert "gates of dev are not met" in refused.stderr and "state is 'red', expected 'green'" in refused.stderr
    assert "counter (exit 1)" in refused.stderr
    assert not (_dest(p) / "dev").exists()
    handler.answer = {"status": 200, "body": {"state": "green"}}
    p.ok("deploy", "1.0.0", "--to", "dev", "--wait")
    assert (_dest(p) / "dev" / "app").read_text() == "v1\n"
    assert (_dest(p) / "count").read_text().strip() == "3"
    samples = [json.loads(r[7]) for r in _rows(p, "gate_samples")]
    assert [all(g["ok"] for g in s) for s in samples] == [False, False, True]  # one per sample, all recorded
    p.ok("audit", "verify")


def test_gates_time_out_with_wait(bare_project: Project, health: tuple[str, type[_Health]]) -> None:
    url, handler = health
    handler.answer = {"status": 503, "body": {}}
    p = _project(bare_project, dev=f"gates: {{checks: [{{http: '{url}'}}], every: 0.05, timeout: 0.2}}")
    p.ok("release", "create", "1.0.0")
    timed_out = p.run("deploy", "1.0.0", "--to", "dev", "--wait")
    assert timed_out.returncode == 3 and "did not pass within 0.2s" in timed_out.stderr
    assert "HTTP 503, expected 200" in timed_out.stderr
    assert len(_rows(p, "gate_samples")) >= 2 and not (_dest(p) / "dev").exists()


def test_a_gate_is_a_command_or_a_url(bare_project: Project) -> None:
    p = _project(bare_project, dev="gates: [{command: 'true', http: 'http://x'}]")
    bad = p.run("validate")
    assert bad.returncode == 2 and "trainmaster.yaml:9:13:" in bad.stderr and "either a `command` or" in bad.stderr


# -- sign-off -------------------------------------------------------------------------------


def test_signoff_gates_promotion_and_can_be_revoked(bare_project: Project) -> None:
    import getpass

    p = _project(bare_project, dev="signoff: {count: 1, from: [alice, bob]}")
    p.ok("release", "create", "1.0.0")
    early = p.run("signoff", "1.0.0", "--env", "dev", "--by", "alice")
    assert early.returncode == 3 and "has not succeeded in dev" in early.stderr
    p.ok("deploy", "1.0.0", "--to", "dev")
    refused = p.run("deploy", "1.0.0", "--to", "test")
    assert refused.returncode == 3 and "needs 1 sign-off(s) from alice, bob in dev" in refused.stderr
    me = p.run("signoff", "1.0.0", "--env", "dev", "--by", getpass.getuser())
    assert me.returncode == 3 and "does not count" in me.stderr
    p.ok("signoff", "1.0.0", "--env", "dev", "--by", "alice", "--comment", "UAT ok")
    p.ok("signoff", "1.0.0", "--env", "dev", "--by", "alice", "--revoke")
    assert p.run("deploy", "1.0.0", "--to", "test").returncode == 3
    assert p.json("signoff", "1.0.0", "--env", "dev", "--by", "bob")["signoffs"] == 1
    p.ok("deploy", "1.0.0", "--to", "test")
    assert (_dest(p) / "test" / "app").exists()
    kinds = [r[3] for r in _rows(p, "audit") if r[3].startswith("signoff")]
    assert kinds == ["signoff_recorded", "signoff_recorded", "signoff_revoked", "signoff_recorded"]
    p.ok("audit", "verify")


# -- performance verification -----------------------------------------------------------------

VERIFY = """on_failure: rollback
          verify:
            command: 'cp "$DEST/metrics-$TRAINMASTER_VERSION.json" "$TRAINMASTER_METRICS"'
            metrics: {p95_ms: {max: 300, regress: "10%"}, error_rate: {max: 0.01}}"""


def test_verification_compares_with_the_last_good_release_and_rolls_back(bare_project: Project) -> None:
    p = _project(bare_project, extra_env=VERIFY)
    dest = _dest(p)
    dest.mkdir(parents=True)
    (dest / "metrics-1.0.0.json").write_text('{"p95_ms": 200, "error_rate": 0.001}')
    (dest / "metrics-1.1.0.json").write_text('{"p95_ms": 280, "error_rate": 0.001}')  # under max, +40%
    (dest / "metrics-1.2.0.json").write_text('{"p95_ms": 210, "error_rate": 0.002}')
    p.ok("release", "create", "1.0.0")
    first = p.json("deploy", "1.0.0", "--to", "dev")
    assert first["verification"]["passed"] and first["verification"]["metrics"]["p95_ms"] == 200
    p.write("app.bin", "v2\n")
    p.ok("release", "create", "1.1.0")
    failed = p.run("deploy", "1.1.0", "--to", "dev", "--json")
    assert failed.returncode == 1
    out = json.loads(failed.stdout)
    assert out["deployment"]["status"] == "failed" and out["rollback"]["version"] == "1.0.0"
    assert "regressed more than 10% from 200" in json.dumps(out["verification"])
    assert (dest / "dev" / "app").read_text() == "v1\n"  # rolled back
    p.write("app.bin", "v3\n")
    p.ok("release", "create", "1.2.0")
    p.ok("deploy", "1.2.0", "--to", "dev")
    row = next(r for r in p.json("status")["environments"] if r["name"] == "dev")
    assert row["version"] == "1.2.0" and row["verification"] == "passed"
    assert "succeeded (verify passed)" in p.ok("status").stdout
    p.ok("audit", "verify")


def test_the_documented_example_runs(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[2] / "examples" / "duties" / "run.sh"
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    env.update(TRAINMASTER=f"{sys.executable} -m trainmaster", TMPDIR=str(tmp_path), TRAINMASTER_LOAD_PLUGINS="")
    result = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout + result.stderr
    assert "the gates of test are not met for 1.0.0: change-window-open (exit 1)" in out
    assert "needs 1 sign-off(s) from product-owner, qa-lead in test" in out
    assert "password *** is masked" in out and "s3cret-demo-password" not in out
    assert "280 regressed more than 10% from 200" in out and "rolled back to 1.0.0" in out
    work = Path(result.stdout.rsplit("duties example finished in ", 1)[1].strip())
    assert (work / "servers" / "migrations.log").read_text() == "1.0.0\n"
