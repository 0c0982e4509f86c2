"""Plugin settings blocks in trainmaster.yaml: accepted at every level, merged, and checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.test_config_errors import ENV, _load
from trainmaster.config import ConfigError

PLUGINS: dict[str, dict[str, Any]] = {
    "github": {
        "type": "object",
        "additionalProperties": False,
        "required": ["repository"],
        "properties": {
            "repository": {"type": "string", "pattern": "^[^/]+/[^/]+$"},
            "environment": {"type": "string"},
            "labels": {"type": "array", "items": {"$ref": "#/$defs/label"}},
        },
        "$defs": {"label": {"type": "string", "minLength": 1}},
    },
}

# (id, yaml, line, column, substrings)
BAD_PLUGIN: list[tuple[str, str, int, int, list[str]]] = [
    (
        "top-missing-required",
        "github: {environment: x}\n" + ENV,
        1,
        9,
        ["missing required key 'repository' in 'github'"],
    ),
    (
        "env-typo",
        "github: {repository: o/r}\n" + ENV + "    github: {enviroment: x}\n",
        5,
        14,
        ["unknown key 'enviroment' in 'github' of environment 'dev'", "did you mean 'environment'?"],
    ),
    (
        "defaults-type",
        "github: {repository: o/r}\ndefaults: {github: {environment: 3}}\n" + ENV,
        2,
        34,
        ["'github.environment' of defaults", "expected a string, got a number"],
    ),
    (
        "merged-missing-required",
        ENV + "    github: {environment: x}\n",
        4,
        13,
        ["missing required key 'repository' in 'github' of environment 'dev'"],
    ),
    (
        "nested-ref",
        "github: {repository: o/r, labels: ['']}\n" + ENV,
        1,
        36,
        ["'github.labels[0]'", "non-empty string"],
    ),
    (
        "other-block-unknown",
        "github: {repository: o/r}\n" + ENV + "    octopus: {}\n",
        5,
        5,
        ["unknown key 'octopus' in environment 'dev'"],
    ),
    ("block-not-mapping", ENV + "    github: o/r\n", 4, 13, ["expected a mapping, got a string"]),
]


@pytest.mark.parametrize(
    ("text", "line", "column", "expected"), [c[1:] for c in BAD_PLUGIN], ids=[c[0] for c in BAD_PLUGIN]
)
def test_bad_plugin_block(tmp_path: Path, text: str, line: int, column: int, expected: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, text, plugin_schemas=PLUGINS)
    message = str(info.value)
    assert message.startswith(f"trainmaster.yaml:{line}:{column}: "), message
    for part in expected:
        assert part in message, message


def test_secret_scheme_list_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected one of env, vault"):
        _load(tmp_path, ENV + "    variables: {A: {secret: 'aws:x'}}\n", secret_schemes=("env", "vault"))
