"""``trainmaster init``: a commented starter config and its schema, which validate and deploy as written."""

from __future__ import annotations

import json

from tests.support.project import Project


def test_init_writes_a_config_that_validates_and_deploys(bare_project: Project) -> None:
    p = bare_project
    p.ok("init")
    config = (p.root / "trainmaster.yaml").read_text()
    assert config.startswith("# yaml-language-server: $schema=./trainmaster.schema.json\n")
    assert "project: proj" in config and "# Packages:" in config
    schema = json.loads((p.root / "trainmaster.schema.json").read_text())
    assert schema == json.loads(p.ok("schema").stdout)
    p.build()  # the package the starter names (`validate` also checks that it resolves)
    p.ok("validate")
    environments = [e["name"] for e in json.loads(p.ok("status", "--json").stdout)["environments"]]
    assert environments == ["dev", "test", "prod"]
    p.ok("release", "create", "1.0.0")
    deployed = p.ok("deploy", "1.0.0", "--to", "dev")
    assert "deploying 1.0.0 to dev" in deployed.stdout
    assert p.run("deploy", "1.0.0", "--to", "prod").returncode == 3  # after test, and approved


def test_init_never_overwrites(bare_project: Project) -> None:
    p = bare_project
    p.write("trainmaster.yaml", "project: mine\n")
    refused = p.run("init")
    assert refused.returncode == 2 and "already exists" in refused.stderr
    assert (p.root / "trainmaster.yaml").read_text() == "project: mine\n"
    assert not (p.root / "trainmaster.schema.json").exists()
    (p.root / "trainmaster.yaml").unlink()
    p.write("trainmaster.schema.json", "{}")
    assert p.run("init").returncode == 2
    assert not (p.root / "trainmaster.yaml").exists()
    (p.root / "trainmaster.schema.json").unlink()
    bad = p.run("init", "--project", "no spaces")
    assert bad.returncode == 2 and "project name" in bad.stderr
    assert not (p.root / "trainmaster.yaml").exists()
    p.ok("--config", "ops/tm.yaml", "init", "--project", "shop")
    assert "project: shop" in (p.root / "ops" / "tm.yaml").read_text()
    assert (p.root / "ops" / "trainmaster.schema.json").exists()
