"""The shipped JSON Schema: valid 2020-12, documented, and agreeing with the loader."""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

import jsonschema
import pytest
import yaml

from tests.support.config_cases import BAD, BAD_PLUGIN, DESIGN_EXAMPLE, PLUGINS
from tests.support.config_cases import GITHUB_ONLY_PLUGINS as GITHUB_ONLY
from trainmaster.config import config_schema

# Rules only load_config checks (a JSON Schema cannot express them), or YAML-level problems.
LOADER_ONLY = {
    "timeout-zero",
    "monitor-every-zero",
    "hours-order",
    "timezone",
    "freeze-order",
    "freeze-date",
    "literal-secret",
    "literal-secret-number",
    "literal-secret-top",
    "secret-scheme",
    "webhook-secret-url",
    "pkg-collision",
    "dup-env",
    "dup-env-in-stage",
    "dup-stage",
    "merged-missing-required",
}

GOOD = [
    DESIGN_EXAMPLE,
    "project: p\ntrain: [{name: only}]\n",
    """
project: p
packages:
  api: {path: dist/api.tgz, deploy: ./d, smoke: ./s, media_type: application/gzip}
variables: {A: "1", PORT: 8080, ON: true}
defaults: {timeout: 10m, soak: 90, concurrency: wait, windows: [{days: mon-fri, hours: "09:00-24:00"}]}
notify:
  - webhook: https://hooks.example.com/x
    events: [release_created]
  - webhook: {secret: env:HOOK}
state_dir: .tm
ledger: sqlite
publish: [github]
train:
  - name: dev
    approvals: {count: 1, from: [alice]}
    monitor: {command: ./check, every: 10s, for: 1h30m}
    freeze: [{from: 2024-12-20T18:00:00Z, to: 2025-01-02}]
    windows: [{days: [Mon, tuesday], timezone: Europe/Paris}]
  - stage: regions
    require: any
    environments: [{name: eu}, {name: us, allow_self_approval: true}]
""",
]


def _data(text: str) -> Any:
    return json.loads(json.dumps(yaml.safe_load(text), default=str))


def _validator(plugins: dict[str, dict[str, Any]] | None = None) -> jsonschema.Draft202012Validator:
    if plugins is None:
        return _base_validator()
    schema = config_schema(plugins)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@functools.cache
def _base_validator() -> jsonschema.Draft202012Validator:
    """The core schema's validator, checked and built once (validating changes nothing in it)."""
    schema = config_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_shipped_file_is_the_base_schema() -> None:
    text = resources.files("trainmaster.config").joinpath("schema.json").read_text(encoding="utf-8")
    shipped = json.loads(text)
    assert shipped["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert config_schema() == shipped
    config_schema()["properties"].clear()
    assert config_schema() == shipped, "config_schema() must return a fresh copy"


def _properties(node: Any) -> Any:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties":
                yield from value.items()
            yield from _properties(value)
    elif isinstance(node, list):
        for item in node:
            yield from _properties(item)


def test_every_property_has_title_and_description() -> None:
    props = list(_properties(config_schema()))
    assert len(props) > 40
    for name, schema in props:
        assert schema.get("title") and schema.get("description"), name


@pytest.mark.parametrize("text", GOOD, ids=["design", "minimal", "full"])
def test_good_configs_validate(text: str) -> None:
    _validator().validate(_data(text))


SCHEMA_CASES = [(c[0], c[1]) for c in BAD if c[0] not in LOADER_ONLY and not c[0].startswith("yaml-")]


@pytest.mark.parametrize(("case_id", "text"), SCHEMA_CASES, ids=[c[0] for c in SCHEMA_CASES])
def test_bad_configs_fail_the_schema_too(case_id: str, text: str) -> None:
    errors = list(_validator().iter_errors(_data(text)))
    assert errors, f"{case_id} should be invalid against schema.json"


def test_loader_only_rules_pass_the_schema() -> None:
    """Documents the split: these are structurally valid, so editors accept them."""
    for case in BAD:
        if case[0] in LOADER_ONLY - {"merged-missing-required"}:
            assert not list(_validator().iter_errors(_data(case[1]))), case[0]


def test_plugin_blocks_in_the_schema() -> None:
    validator = _validator(PLUGINS)
    schema = config_schema(PLUGINS)
    assert schema["properties"]["github"]["title"]
    assert schema["$defs"]["environment"]["properties"]["github"]["description"]
    assert "github" in schema["$defs"]["defaults"]["properties"]
    good = """
project: p
github: {repository: o/r, labels: [x]}
defaults: {github: {environment: e}}
train:
  - name: dev
    github: {environment: dev}
    octopus: {space: s}
"""
    validator.validate(_data(good))
    github_only = _validator(GITHUB_ONLY)
    for case in BAD_PLUGIN:
        if case[0] not in LOADER_ONLY:
            assert list(github_only.iter_errors(_data(case[1]))), case[0]


def test_plugin_schema_clash_is_refused() -> None:
    from trainmaster.errors import PluginError

    with pytest.raises(PluginError, match="clashes"):
        config_schema({"variables": {"type": "object"}})
