"""Deploying: clean environments, skips, rollbacks, monitors, timeouts, status and history."""

from __future__ import annotations

from tests.support.project import Project


def test_commands_get_a_clean_environment(bare_project: Project) -> None:
    p = bare_project
    p.write("trainmaster.yaml", """\
        project: demo
        packages: {app: build/app.bin, "web-ui": build/ui.zip}
        variables: {REGION: eu}
        train:
          - name: dev
            deploy: >-
              env > seen.env; cat "$TRAINMASTER_PACKAGE_WEB_UI" > ui.seen;
              sed -i s/ui/edited/ "$TRAINMASTER_PACKAGE_WEB_UI"
            pass_env: [DEST]
            variables: {GREETING: hi}
        """)
    p.write("build/app.bin", "app")
    p.write("build/ui.zip", "ui")
    p.ok("release", "create", "1.0.0")
    p.ok("deploy", "1.0.0", "--to", "dev", env={"GITHUB_TOKEN": "ghp_leak", "SENTINEL": "x"})
    seen = dict(line.split("=", 1) for line in (p.root / "seen.env").read_text().splitlines() if "=" in line)
    assert "GITHUB_TOKEN" not in seen and "SENTINEL" not in seen
    assert seen["DEST"] == p.env["DEST"] and seen["GREETING"] == "hi" and seen["REGION"] == "eu"
    assert seen["TRAINMASTER_ENVIRONMENT"] == "dev" and seen["TRAINMASTER_VERSION"] == "1.0.0"
    assert seen["TRAINMASTER_PROJECT"] == "demo" and seen["TRAINMASTER_RELEASE_ID"].startswith("sha256:")
    assert seen["TRAINMASTER_DEPLOYMENT_ID"] == "1"
    assert (p.root / "ui.seen").read_text() == "ui"
    import re

    assert re.search(r"/\.trainmaster/work/1-[^/]+/web-ui/ui\.zip$", seen["TRAINMASTER_PACKAGE_WEB_UI"])
    assert list((p.root / ".trainmaster" / "work").iterdir()) == []  # removed afterwards
    p.ok("release", "verify", "1.0.0")  # the command's sed -i changed its own link, not the store
    assert set(seen) - {"PWD", "SHLVL", "_", "OLDPWD"} <= {
        "PATH", "HOME", "LANG", "TMPDIR", "DEST", "GREETING", "REGION", "TRAINMASTER_PROJECT", "TRAINMASTER_VERSION",
        "TRAINMASTER_RELEASE_ID", "TRAINMASTER_ENVIRONMENT", "TRAINMASTER_DEPLOYMENT_ID", "TRAINMASTER_PACKAGE_APP",
        "TRAINMASTER_PACKAGE_WEB_UI", "TRAINMASTER_RUN_TOKEN"}
    assert re.fullmatch(r"[0-9a-f]{24}", seen["TRAINMASTER_RUN_TOKEN"])  # never a secret: a random marker


def test_unchanged_packages_are_skipped_and_force_redeploys(project: Project) -> None:
    project.ok("release", "create", "1.0.0")
    project.ok("deploy", "1.0.0", "--to", "dev")
    again = project.ok("deploy", "1.0.0", "--to", "dev")
    assert "skip app: unchanged since deployment #1" in again.stdout
    history = project.json("history", "--env", "dev")["deployments"]
    assert [d["packages"] for d in history] == [{"app": "deployed"}, {"app": "skipped"}]
    assert history[1]["status"] == "succeeded"
    forced = project.ok("deploy", "1.0.0", "--to", "dev", "--force")
    assert "skip" not in forced.stdout and "deployed 1.0.0" in forced.stdout


def test_a_changed_variable_redeploys(project: Project) -> None:
    project.ok("release", "create", "1.0.0")
    project.ok("deploy", "1.0.0", "--to", "dev")
    config = (project.root / "trainmaster.yaml").read_text().replace("hello-dev", "bonjour-dev")
    (project.root / "trainmaster.yaml").write_text(config)
    result = project.ok("deploy", "1.0.0", "--to", "dev")
    assert "skip" not in result.stdout and "greeting=bonjour-dev" in result.stdout


def test_components_deploy_in_order_and_skip_independently(bare_project: Project) -> None:
    p = bare_project
    p.write("trainmaster.yaml", """\
        project: train
        packages:
          db: {path: db.sql, deploy: "echo db >> order.log"}
          api: {path: api.bin, deploy: "echo api >> order.log", smoke: "grep -q api $TRAINMASTER_PACKAGE_PATH"}
          web: {path: web.bin, deploy: "echo web >> order.log"}
        train:
          - name: dev
        """)
    for name in ("db.sql", "api.bin", "web.bin"):
        p.write(name, name.split(".")[0] + " v1")
    p.ok("release", "create", "1.0.0")
    p.ok("deploy", "1.0.0", "--to", "dev")
    assert (p.root / "order.log").read_text().split() == ["db", "api", "web"]
    p.write("api.bin", "api v2")
    p.ok("release", "create", "1.1.0")
    out = p.ok("deploy", "1.1.0", "--to", "dev").stdout
    assert "skip db" in out and "skip web" in out
    assert (p.root / "order.log").read_text().split() == ["db", "api", "web", "api"]
    last = p.json("history", "--env", "dev", "--limit", "1")["deployments"][0]
    assert last["packages"] == {"db": "skipped", "api": "deployed", "web": "skipped"}


def test_failure_rolls_back_to_the_last_good_release(project: Project) -> None:
    project.ok("release", "create", "1.0.0")
    project.ok("deploy", "1.0.0", "--to", "dev")
    project.build("broken")
    project.ok("release", "create", "1.1.0")
    failed = project.run("deploy", "1.1.0", "--to", "dev")
    assert failed.returncode == 1
    assert "rolled back to 1.0.0: rollback succeeded" in failed.stderr
    history = project.json("history", "--env", "dev")["deployments"]
    assert [(d["version"], d["kind"], d["status"]) for d in history] == [
        ("1.0.0", "deploy", "succeeded"), ("1.1.0", "deploy", "failed"), ("1.0.0", "rollback", "succeeded")]
    assert history[2]["packages"] == {"app": "deployed"}  # a rollback never skips
    assert "healthy" in (project.root.parent / "servers/dev/app.bin").read_text()


def test_on_failure_stop_leaves_the_failure_in_place(project: Project) -> None:
    config = (project.root / "trainmaster.yaml").read_text().replace("on_failure: rollback", "on_failure: stop")
    (project.root / "trainmaster.yaml").write_text(config)
    project.ok("release", "create", "1.0.0")
    project.ok("deploy", "1.0.0", "--to", "dev")
    project.build("broken")
    project.ok("release", "create", "1.1.0")
    assert project.run("deploy", "1.1.0", "--to", "dev").returncode == 1
    status = {e["name"]: e for e in project.json("status")["environments"]}
    assert status["dev"]["version"] == "1.1.0" and status["dev"]["status"] == "failed"


def test_manual_rollback_and_rollback_to_a_version(project: Project) -> None:
    for version, content in (("1.0.0", "healthy-1"), ("1.1.0", "healthy-2"), ("1.2.0", "healthy-3")):
        project.build(content)
        project.ok("release", "create", version)
        project.ok("deploy", version, "--to", "dev")
    project.ok("rollback", "--env", "dev")
    assert "healthy-2" in (project.root.parent / "servers/dev/app.bin").read_text()
    project.ok("rollback", "--env", "dev", "--to", "1.0.0")
    assert "healthy-1" in (project.root.parent / "servers/dev/app.bin").read_text()
    kinds = [(d["version"], d["kind"]) for d in project.json("history", "--env", "dev")["deployments"]]
    assert kinds[-2:] == [("1.1.0", "rollback"), ("1.0.0", "rollback")]
    never = project.run("rollback", "--env", "test")
    assert never.returncode == 3 and "nothing to roll back" in never.stderr


def test_monitor_failure_fails_the_deployment(bare_project: Project) -> None:
    p = bare_project
    p.write("trainmaster.yaml", """\
        project: demo
        packages: {app: app.bin}
        train:
          - name: dev
            deploy: "true"
            monitor: {command: "test ! -e unhealthy && touch checked", every: 0.2, for: 1}
        """)
    p.write("app.bin", "x")
    p.ok("release", "create", "1.0.0")
    out = p.ok("deploy", "1.0.0", "--to", "dev").stdout
    assert "monitor" in out and (p.root / "checked").exists()
    p.write("unhealthy", "")
    result = p.run("deploy", "1.0.0", "--to", "dev", "--force")
    assert result.returncode == 1 and "monitoring failed" in result.stdout


def test_a_command_that_exceeds_its_timeout_fails(bare_project: Project) -> None:
    p = bare_project
    p.write("trainmaster.yaml", """\
        project: demo
        packages: {app: app.bin}
        train:
          - name: dev
            deploy: "sleep 30"
            timeout: 1s
        """)
    p.write("app.bin", "x")
    p.ok("release", "create", "1.0.0")
    result = p.run("deploy", "1.0.0", "--to", "dev")
    assert result.returncode == 1 and "timed out after 1s" in result.stdout


def test_status_and_history_json_shapes(project: Project) -> None:
    project.ok("release", "create", "1.0.0")
    project.ok("deploy", "1.0.0", "--to", "dev")
    status = project.json("status")
    assert [e["name"] for e in status["environments"]] == ["dev", "test", "prod"]
    for env in status["environments"]:
        assert {"name", "stage", "version", "release_id", "status", "pending"} <= set(env)
    dev, test, prod = status["environments"]
    assert dev["version"] == "1.0.0" and dev["status"] == "succeeded"
    assert test["version"] is None and test["status"] == "none" and test["pending"] == []
    assert test["next"] == "1.0.0"
    assert prod["pending"] == []
    deployments = project.json("history")["deployments"]
    assert set(deployments[0]) == {"id", "version", "release_id", "environment", "kind", "status", "actor",
                                   "started_at", "finished_at", "packages", "remote"}
    assert deployments[0]["packages"] == {"app": "deployed"}
    project.ok("promote", "--from", "dev", "--to", "test")
    prod = project.json("status")["environments"][2]
    assert prod["next"] == "1.0.0" and "needs 1 approval" in prod["pending"][0]


def test_history_limit_returns_the_newest_oldest_first(project: Project) -> None:
    project.ok("release", "create", "1.0.0")
    for _ in range(4):
        project.ok("deploy", "1.0.0", "--to", "dev", "--force")
    ids = [d["id"] for d in project.json("history", "--limit", "2")["deployments"]]
    assert ids == [3, 4]
    assert project.run("history", "--limit", "0").returncode == 2


def test_a_failed_webhook_is_a_warning_never_a_failure(project: Project) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = (project.root / "trainmaster.yaml").read_text()
    project.write("trainmaster.yaml", config + f"notify:\n  - webhook: http://127.0.0.1:{port}/hook?key=abc\n"
                                               "    events: [deployment_finished]\n")
    project.ok("release", "create", "1.0.0")
    result = project.ok("deploy", "1.0.0", "--to", "dev")
    assert "warning: webhook not delivered" in result.stderr
    assert "key=abc" not in result.stderr  # the URL's token is redacted
    assert result.stderr.count("warning: webhook") == 1  # only the subscribed event
