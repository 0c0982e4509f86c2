"""Bad arguments and bad configs: exit 2, one clear message, no traceback, nothing changed."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.project import BASIC_CONFIG, Project, copy_project

BAD_ARGS = [
    (("release", "create", "../x"), "not a SemVer 2.0 version"),
    (("release", "create", "1.0"), "not a SemVer 2.0 version"),
    (("release", "create", "v2.0.0"), "not a SemVer 2.0 version"),
    (("release", "create", "2.0.0-"), "not a SemVer 2.0 version"),
    (("release", "create", "2.0.0", "--package", "nonsense"), "expected NAME=PATH"),
    (("release", "create", "2.0.0", "--package", "app=missing/app.bin"), "matches no file"),
    (("release", "create", "2.0.0", "--package", "bad name=build/app.bin"), "must start with a letter"),
    (("release", "create", "2.0.0", "--package", "app=sha256:zz"), "is not of the form sha256:"),
    (("release", "show", "9.9.9"), "no release 9.9.9"),
    (("release", "create", "2.0.0", "--allow-undeclared", "--package", "web-ui=build/app.bin", "--package",
      "web.ui=build/app.bin"),
     "would both be TRAINMASTER_PACKAGE_WEB_UI"),
    (("deploy", "1.0.0", "--to", "nowhere"), "unknown environment 'nowhere'"),
    (("deploy", "9.9.9", "--to", "dev"), "no release 9.9.9"),
    (("deploy", "../../etc", "--to", "dev"), "not a SemVer 2.0 version"),
    (("deploy", "1.0.0"), "Missing option '--to'"),
    (("deploy", "1.0.0", "--to", "prod"), "secret env:PROD_DB_PASSWORD is not set"),
    (("promote", "--from", "nope", "--to", "test"), "unknown environment 'nope'"),
    (("approve", "1.0.0", "--env", "staging"), "unknown environment 'staging'"),
    (("rollback", "--env", "qa"), "unknown environment 'qa'"),
    (("history", "--limit", "-1"), "Invalid value for '--limit'"),
    (("history", "--env", "prd"), "did you mean 'prod'"),
    (("sync", "--to", "nowhere"), "unknown publisher 'nowhere'"),
    (("release", "fetch", "2.0.0"), "nothing to fetch from"),
    (("frobnicate",), "No such command"),
    (("--config", "missing.yaml", "status"), "missing.yaml"),
]

BAD_CONFIGS = [
    ("approvals typo", "  aproval: 1\n", "unknown key 'aproval'", "did you mean 'approvals'"),
    ("literal secret", "  variables: {DB_PASSWORD: hunter2}\n", "looks like a secret", "{secret: env:NAME}"),
    ("secret literal ref", "  variables: {X: {secret: hunter2}}\n", "secret", ""),
    ("bad concurrency", "  concurrency: sometimes\n", "concurrency", "wait"),
    ("bad duration", "  soak: soon\n", "soak", ""),
]


@pytest.fixture
def seeded(project: Project, project_template: Callable[..., Project]) -> Project:
    """1.0.0 created and deployed to dev (by the real CLI once per worker, copied for each test)."""
    copy_project(project_template(("release", "create", "1.0.0"), ("deploy", "1.0.0", "--to", "dev")), project)
    return project


@pytest.mark.parametrize(("args", "expected"), BAD_ARGS, ids=[" ".join(a) for a, _ in BAD_ARGS])
def test_bad_arguments(seeded: Project, args: tuple[str, ...], expected: str) -> None:
    before = seeded.snapshot()
    env = {"PROD_DB_PASSWORD": ""} if "prod" in args else None
    result = seeded.run(*args, env=env)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert expected in result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    assert seeded.snapshot() == before


@pytest.mark.parametrize(("name", "line", "expected", "hint"), BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_bad_configs(seeded: Project, name: str, line: str, expected: str, hint: str) -> None:
    before = seeded.snapshot()
    config = BASIC_CONFIG.replace("  pass_env: [DEST]\n", "  pass_env: [DEST]\n" + line)
    seeded.write("trainmaster.yaml", config)
    for args in (("validate",), ("deploy", "1.0.0", "--to", "dev"), ("release", "create", "1.1.0")):
        result = seeded.run(*args)
        assert result.returncode == 2, (args, result.stderr)
        message = result.stderr.strip()
        assert message.startswith("error: trainmaster.yaml:"), message
        assert len(message.splitlines()) == 1 and expected in message and hint in message
        assert "hunter2" not in message
    assert seeded.snapshot() == before


def test_config_error_names_file_line_and_column(seeded: Project) -> None:
    seeded.write("trainmaster.yaml", BASIC_CONFIG.replace("    approvals: 1\n", "    approvals: 1\n    aproval: 2\n"))
    result = seeded.run("validate")
    lines = BASIC_CONFIG.splitlines()
    line_no = lines.index("    approvals: 1") + 2
    assert f"trainmaster.yaml:{line_no}:5:" in result.stderr


def test_bad_release_is_refused_before_the_store_is_touched(project: Project) -> None:
    before = project.snapshot()
    result = project.run("release", "create", "1.0")
    assert result.returncode == 2
    assert project.snapshot() == before
    assert not project.state.exists()  # not even an empty ledger was created


@pytest.mark.parametrize(("snippet", "expected"), [
    ("approvals: {count: 2, from: [carol]}", "it could never be met"),
    ("media_type: zip", "media_type"),
])
def test_impossible_or_malformed_settings(bare_project: Project, snippet: str, expected: str) -> None:
    p = bare_project
    key, value = snippet.split(": ", 1)
    package = "{path: app.bin, media_type: zip}" if key == "media_type" else "app.bin"
    env_extra = f"\n    {snippet}" if key == "approvals" else ""
    p.write("trainmaster.yaml", f"project: demo\npackages: {{app: {package}}}\ntrain:\n  - name: dev\n"
                                f"    deploy: 'true'{env_extra}\n")
    p.write("app.bin", "x")
    result = p.run("validate")
    assert result.returncode == 2 and expected in result.stderr and "trainmaster.yaml:" in result.stderr
