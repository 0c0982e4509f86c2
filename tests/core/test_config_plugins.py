"""Plugin settings blocks in trainmaster.yaml: accepted at every level, merged, and checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.config_cases import BAD_PLUGIN, ENV, GITHUB_ONLY_PLUGINS, _load
from trainmaster.config import ConfigError


@pytest.mark.parametrize(
    ("text", "line", "column", "expected"), [c[1:] for c in BAD_PLUGIN], ids=[c[0] for c in BAD_PLUGIN]
)
def test_bad_plugin_block(tmp_path: Path, text: str, line: int, column: int, expected: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, text, plugin_schemas=GITHUB_ONLY_PLUGINS)
    message = str(info.value)
    assert message.startswith(f"trainmaster.yaml:{line}:{column}: "), message
    for part in expected:
        assert part in message, message


def test_secret_scheme_list_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected one of env, vault"):
        _load(tmp_path, ENV + "    variables: {A: {secret: 'aws:x'}}\n", secret_schemes=("env", "vault"))
