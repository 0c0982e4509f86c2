"""Status rows live in the core; one Markdown renderer serves every CI context; rendering never writes."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.project import Project
from trainmaster.status import EnvironmentStatus, environment_status
from trainmaster.summary import publish_summary, render

SRC = Path(__file__).resolve().parents[2] / "src" / "trainmaster"
RID = "sha256:" + "1" * 64


def test_nothing_outside_the_cli_imports_the_cli() -> None:
    """The core never depends on its CLI (``__main__``, the program's entry, only starts it)."""
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if path.relative_to(SRC).parts[0] in ("cli", "__main__.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            if any(n == "trainmaster.cli" or n.startswith("trainmaster.cli.") for n in names):
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert offenders == []


def test_table_and_train_diagram_show_where_a_release_stands() -> None:
    rows = [
        EnvironmentStatus("dev", "dev", "1.2.0", RID, "succeeded"),
        EnvironmentStatus("test-eu", "test", "1.2.0", RID, "succeeded"),
        EnvironmentStatus("test-us", "test", "1.1.0", "sha256:" + "0" * 64, "succeeded"),
        EnvironmentStatus("prod", "prod", None, None, "none", pending=["needs 1 approval"], next="1.2.0",
                          url="https://x.example"),
    ]
    md = render(rows, project="demo", version="1.2.0", release_id=RID, current="test-eu",
                headline="deploy 1.2.0 to test-eu: succeeded", links=[("workflow run", "https://github.com/r/1"),
                                                                      ("GitHub release", None)])
    assert md.startswith("### trainmaster · demo 1.2.0\n\ndeploy 1.2.0 to test-eu: succeeded\n")
    assert "[workflow run](https://github.com/r/1)" in md and "GitHub release" not in md
    assert "| stage | environment | version | status | pending |" in md
    assert "| test | test-eu ◀ | 1.2.0 | ✅ succeeded | — |" in md
    assert "| prod | [prod](https://x.example) | — | none | 1.2.0: needs 1 approval |" in md
    assert "```mermaid\nflowchart LR" in md
    assert 'subgraph s1["test"]' in md and "e0 --> s1" in md and "s1 --> e3" in md
    node = {i: md.split(f"e{i}[")[1].split("\n")[0] for i in range(4)}
    assert node[0].endswith(":::done") and node[1].endswith(":::here")
    assert node[2].endswith(":::other") and node[3].endswith(":::empty")


def test_without_a_focus_each_environment_shows_its_own_outcome() -> None:
    rows = [EnvironmentStatus("dev", "dev", "1.1.0", None, "failed"),
            EnvironmentStatus("prod", "prod", "1.0.0", None, "succeeded")]
    md = render(rows, project="p")
    assert 'e0["dev<br/>1.1.0 ❌"]:::failed' in md and 'e1["prod<br/>1.0.0 ✅"]:::done' in md


def test_cells_cannot_break_the_table_or_the_diagram() -> None:
    md = render([EnvironmentStatus("a|b", "s", "1<script>", None, "none", pending=["x|y\nz"])], project="p")
    assert "a\\|b" in md and "x\\|y z" in md and "<script>" not in md


def test_rows_round_trip_through_status_json() -> None:
    row = EnvironmentStatus("dev", "dev", "1.0.0", RID, "succeeded", ["soak"], "1.1.0", 3, "ann", "2026-01-01")
    data = row.to_json()
    assert list(data) == ["name", "stage", "version", "release_id", "status", "pending", "next", "deployment",
                          "actor", "finished_at", "current", "packages", "last_failure", "active", "gates",
                          "verification"]
    assert EnvironmentStatus.from_json(data) == row


def _app(project: Project):  # type: ignore[no-untyped-def]
    from trainmaster.app import App

    return App(str(project.root / "trainmaster.yaml"), environ=project.env)


def test_status_rows_and_the_summary_never_write_the_command_reaps(project: Project) -> None:
    """A deployment whose process died is reaped by ``status``, never by computing or rendering rows."""
    project.ok("release", "create", "1.0.0")
    app = _app(project)
    release = app.ledger.get_release("demo", "1.0.0")
    assert release is not None
    app.ledger.start_deployment(release, "dev", "deploy", "ann", {})  # its process is gone: no lock held
    before = project.snapshot()
    rows = environment_status(app)
    publish_summary(app, focus="1.0.0")
    assert rows[0].status == "in_progress"
    assert project.snapshot() == before
    app.ledger.close()
    assert project.json("status")["environments"][0]["status"] == "interrupted"


def test_one_renderer_serves_the_github_and_azure_summaries(project: Project, tmp_path: Path) -> None:
    project.ok("release", "create", "1.0.0")
    project.ok("deploy", "1.0.0", "--to", "dev")
    expected = render(environment_status(_app(project)), project="demo")
    step_summary = tmp_path / "step_summary.md"
    github = {"TRAINMASTER_LOAD_PLUGINS": "github", "GITHUB_ACTIONS": "true",
              "GITHUB_STEP_SUMMARY": str(step_summary)}
    project.ok("status", env=github)
    assert step_summary.read_text() == expected
    assert "| dev | dev | 1.0.0 | ✅ succeeded | — |" in expected
    assert "| test | test | — | none | ready: 1.0.0 |" in expected
    agent_temp = tmp_path / "agent"
    azure = {"TRAINMASTER_LOAD_PLUGINS": "azure-devops", "TF_BUILD": "True", "AGENT_TEMPDIRECTORY": str(agent_temp)}
    out = project.ok("status", env=azure).stdout
    (attached,) = agent_temp.glob("trainmaster-summary-*.md")
    assert attached.read_text() == expected
    assert f"##vso[task.addattachment type=Distributedtask.Core.Summary;name=trainmaster;]{attached}" in out


def test_the_ci_summary_shows_a_partial_rollout_as_status_does(bare_project: Project, tmp_path: Path) -> None:
    """After a rolling deployment that stopped with two of four instances on the new release, the
    GitHub job summary says so, in the words of ``status``, and marks the environment as partial."""
    from tests.support.strategies import release, setup

    p = bare_project
    dest = setup(p, "  - name: prod\n    instances: [web-1, web-2, web-3, web-4]\n"
                    "    strategy: {rolling: {batch: 2, max_failed: 2}}\n")
    release(p, "1.1.0")
    step_summary = tmp_path / "step_summary.md"
    github = {"TRAINMASTER_LOAD_PLUGINS": "github", "GITHUB_ACTIONS": "true",
              "GITHUB_STEP_SUMMARY": str(step_summary)}
    p.ok("status", env=github)  # nothing deployed yet: no rollout to warn about
    assert "⚠️" not in step_summary.read_text() and "on 0 of 4" not in step_summary.read_text()
    p.ok("deploy", "1.1.0", "--to", "prod")
    p.ok("status", env=github)
    assert "- prod: 1.1.0 on 4 of 4 instances, rolling" in step_summary.read_text()
    (dest / "fail-web-3").write_text("1.2.0")
    (dest / "fail-web-4").write_text("1.2.0")
    release(p, "1.2.0")
    assert p.run("deploy", "1.2.0", "--to", "prod").returncode == 0  # two failures are within max_failed
    assert "prod: 1.2.0 on 2 of 4 instances, rolling" in p.ok("status").stdout
    p.ok("status", env=github)
    assert "- prod: ⚠️ 1.2.0 on 2 of 4 instances, rolling" in step_summary.read_text()


def test_rollout_notes_are_rendered_only_for_environments_with_instances() -> None:
    rollout = {"strategy": "canary", "version": "1.2.0", "on": 1, "of": 4, "text": "1.2.0 on 1 of 4 instances, "
               "canary (traffic 10%)"}
    rows = [EnvironmentStatus("dev", "dev", "1.2.0", RID, "succeeded"),
            EnvironmentStatus("prod", "prod", "1.2.0", RID, "succeeded", rollout=rollout)]
    md = render(rows, project="p")
    assert "- prod: ⚠️ 1.2.0 on 1 of 4 instances, canary (traffic 10%)" in md
    assert "- dev:" not in md
