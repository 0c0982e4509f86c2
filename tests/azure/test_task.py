"""The Azure Pipelines task: task.json against task-lib's schema, the extension manifest, and the
task's Python side run as an agent would run it, its ``##vso`` lines read back by task-lib's own parser.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import jsonschema

from tests.support.azure import PYTHON, REPO, TASK, cli_env
from tests.support.ci_logs import parse_vso
from trainmaster_azure.context import output_name

SCHEMA = REPO / "tests" / "contracts" / "azure-pipelines-tasks.schema.json"


def task_json() -> dict[str, Any]:
    return json.loads((TASK / "task.json").read_text())


def test_task_json_is_valid_against_task_libs_schema() -> None:
    schema = json.loads(SCHEMA.read_text())
    errors = list(jsonschema.Draft4Validator(schema).iter_errors(task_json()))
    assert errors == [], [e.message for e in errors]


def test_task_json_runs_on_node20_and_node24_with_a_matching_agent_version() -> None:
    task = task_json()
    assert set(task["execution"]) == {"Node20_1", "Node24"}
    assert {h["target"] for h in task["execution"].values()} == {"dist/index.js"}
    assert task["minimumAgentVersion"] == "3.232.1"  # the first agent with Node20_1; Node24 needs 4.265.1
    names = {i["name"]: i for i in task["inputs"]}
    assert {"command", "version", "environment", "from", "config", "workingDirectory"} <= set(names)
    assert names["azureDevOpsConnection"]["type"].startswith("connectedService:")
    assert not names["azureDevOpsConnection"].get("required")


def test_output_variables_are_the_ones_the_python_side_sets() -> None:
    declared = {v["name"] for v in task_json()["outputVariables"]}
    emitted = {output_name(n) for n in ("release-id", "version", "release-url", "deployment-id", "status")}
    assert emitted == declared == {"releaseId", "version", "releaseUrl", "deploymentId", "status"}


def test_the_extension_manifest_contributes_the_task() -> None:
    manifest = json.loads((TASK / "vss-extension.json").read_text())
    (contribution,) = manifest["contributions"]
    assert contribution["type"] == "ms.vss-distributed-task.task"
    assert contribution["targets"] == ["ms.vss-distributed-task.tasks"]
    assert contribution["properties"]["name"] == task_json()["name"]
    assert manifest["files"] == [{"path": task_json()["name"]}]
    pinned = json.loads((TASK / "package.json").read_text())
    deps = {**pinned["dependencies"], **pinned["devDependencies"]}
    assert all(v[0].isdigit() for v in deps.values()), "npm versions are pinned exactly"
    assert {"azure-pipelines-task-lib", "typescript", "mocha", "tfx-cli"} <= set(deps)


# -- the Python side, as the agent runs it -------------------------------------------------------

SECRET = "s3cr%t;value]with\nnewline"
TOKEN = "agent-job-token-do-not-print-41b7"
CONFIG = """\
project: demo
packages:
  app: build/app.bin
defaults:
  deploy: echo "deploying $GREETING"
train:
  - name: dev
    variables:
      GREETING: hello
      DB_PASSWORD: {secret: env:DB_PASSWORD}
"""


def agent(tmp: Path, **extra: str) -> dict[str, str]:
    (tmp / "agent-temp").mkdir(exist_ok=True)
    return cli_env(tmp, TF_BUILD="True", SYSTEM_COLLECTIONURI="https://dev.azure.com/acme/",
                   SYSTEM_TEAMPROJECT="Shop", BUILD_BUILDID="77", BUILD_BUILDNUMBER="20240101.7",
                   BUILD_SOURCEVERSION="b" * 40, BUILD_SOURCEBRANCH="refs/heads/main",
                   BUILD_REQUESTEDFOREMAIL="dev@example.com", AGENT_TEMPDIRECTORY=str(tmp / "agent-temp"),
                   SYSTEM_ACCESSTOKEN=TOKEN, DB_PASSWORD=SECRET, **extra)


def run(tmp: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "-m", "trainmaster", *args], cwd=tmp, env=env, capture_output=True, text=True,
                          timeout=120)


def test_the_python_side_speaks_vso_that_task_lib_reads_back(tmp_path: Path) -> None:
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "app.bin").write_bytes(b"bytes")
    (tmp_path / "trainmaster.yaml").write_text(CONFIG)
    env = agent(tmp_path)
    created = run(tmp_path, env, "release", "create", "1.0.0")
    assert created.returncode == 0, created.stderr
    deployed = run(tmp_path, env, "deploy", "1.0.0", "--to", "dev")
    assert deployed.returncode == 0, deployed.stderr
    commands = parse_vso(created.stdout) + parse_vso(deployed.stdout)
    outputs = {c["properties"]["variable"]: c["message"] for c in commands if c["command"] == "task.setvariable"}
    assert all(c["properties"].get("isOutput") == "true" for c in commands if c["command"] == "task.setvariable")
    assert outputs["releaseId"].startswith("sha256:") and outputs["version"] == "1.0.0"
    assert outputs["deploymentId"] and outputs["status"] == "succeeded"
    secrets = [c["message"] for c in parse_vso(deployed.stdout) if c["command"] == "task.setsecret"]
    assert set(SECRET.splitlines()) <= set(secrets)  # line by line: the agent refuses multi-line secrets
    first_secret = next(i for i, line in enumerate(deployed.stdout.splitlines()) if "task.setsecret" in line)
    assert first_secret < next(i for i, line in enumerate(deployed.stdout.splitlines()) if "deploying" in line)
    for proc in (created, deployed):
        text = proc.stdout + proc.stderr
        assert TOKEN not in text
        for line in text.splitlines():
            if "task.setsecret" not in line:
                assert "s3cr%t" not in line and "with" + "\n" not in line


def test_a_config_error_becomes_a_logissue_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "trainmaster.yaml").write_text(textwrap.dedent("""\
        project: demo
        packages: {app: app.bin}
        train:
          - name: dev
            tagret: local
        """))
    done = run(tmp_path, agent(tmp_path), "validate")
    assert done.returncode == 2
    issues = [c for c in parse_vso(done.stdout) if c["command"] in ("task.logissue", "task.issue")]
    assert issues, done.stdout + done.stderr
    props = issues[0]["properties"]
    assert props["type"] == "error" and props["sourcepath"].endswith("trainmaster.yaml")
    assert props["linenumber"] == "5" and props.get("columnnumber")


def test_the_python_side_completes_the_task_outside_the_shim(tmp_path: Path) -> None:
    """Run as a plain script step, the Python side reports ``task.complete``; under the shim, the shim does."""
    (tmp_path / "trainmaster.yaml").write_text("project: demo\npackages: {app: app.bin}\ntrain:\n  - name: dev\n")
    done = run(tmp_path, agent(tmp_path), "deploy", "9.9.9", "--to", "dev")
    results = [c["properties"].get("result") for c in parse_vso(done.stdout) if c["command"] == "task.complete"]
    assert done.returncode == 2 and results[-1] == "Failed"
    under_shim = run(tmp_path, agent(tmp_path, TRAINMASTER_AZURE_TASK="1"), "deploy", "9.9.9", "--to", "dev")
    assert not [c for c in parse_vso(under_shim.stdout) if c["command"] == "task.complete"]


def test_vso_escaping_round_trips_through_task_libs_parser() -> None:
    from trainmaster_azure._vso import format_command

    nasty = "50% done; [x] ]\r\nnext line %AZP25"
    line = format_command("task.logissue", {"type": "error", "sourcepath": nasty, "code": ""}, nasty)
    (parsed,) = parse_vso(line + "\n")
    assert parsed["properties"] == {"type": "error", "sourcepath": nasty}  # empty values are left out
    assert parsed["message"] == nasty


def test_the_context_reads_the_predefined_variables() -> None:
    from trainmaster_azure.context import detect

    assert detect({"TF_BUILD": "False"}) is None
    env = {"TF_BUILD": "True", "BUILD_REQUESTEDFOREMAIL": "dev@example.com", "BUILD_BUILDID": "7",
           "SYSTEM_COLLECTIONURI": "https://dev.azure.com/acme/", "SYSTEM_TEAMPROJECT": "My Shop",
           "BUILD_SOURCEVERSION": "c" * 40, "BUILD_SOURCEBRANCH": "refs/heads/main", "BUILD_BUILDNUMBER": "1.0.7"}
    ctx = detect(env)
    assert ctx is not None and ctx.actor() == "dev@example.com" and not ctx.in_release_stage
    assert ctx.source() == {"ci": "azure-pipelines", "commit": "c" * 40, "branch": "refs/heads/main",
                            "build_id": "7", "build_number": "1.0.7",
                            "build_url": "https://dev.azure.com/acme/My%20Shop/_build/results?buildId=7"}
    stage = detect({**env, "RELEASE_RELEASEID": "3", "RELEASE_ENVIRONMENTNAME": "Prod",
                    "RELEASE_DEPLOYMENT_REQUESTEDFOREMAIL": "approver@example.com"})
    assert stage is not None and stage.in_release_stage and stage.actor() == "approver@example.com"


def test_the_summary_is_a_file_attached_as_the_summary_tab(tmp_path: Path) -> None:
    from trainmaster_azure.context import AzurePipelinesContext

    lines: list[str] = []
    ctx = AzurePipelinesContext({"TF_BUILD": "True", "AGENT_TEMPDIRECTORY": str(tmp_path)}, lines.append)
    ctx.summary("# Released 1.0.0")
    (parsed,) = parse_vso("".join(lines))
    assert parsed["command"] == "task.addattachment"
    assert parsed["properties"] == {"type": "Distributedtask.Core.Summary", "name": "trainmaster"}
    assert Path(parsed["message"]).read_text() == "# Released 1.0.0\n"
