"""Bad configs: each is a ConfigError at file:line:col saying what was expected, never echoing a secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.config_cases import BAD, SECRET, _load
from trainmaster.config import ConfigError, load_config


@pytest.mark.parametrize(
    ("text", "line", "column", "expected"), [case[1:] for case in BAD], ids=[c[0] for c in BAD]
)
def test_bad_config(tmp_path: Path, text: str, line: int, column: int, expected: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, text)
    message = str(info.value)
    assert message.startswith(f"trainmaster.yaml:{line}:{column}: "), message
    for part in expected:
        assert part in message, message
    assert SECRET not in message
    assert "Traceback" not in message and "\n" not in message
    assert (info.value.line, info.value.column) == (line, column)
    assert info.value.exit_code == 2


def test_unknown_key_sets_key_and_suggestion(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, "project: p\ntrain:\n  - name: prod\n    aproval: 1\n")
    assert (info.value.key, info.value.suggestion) == ("aproval", "approvals")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found: .*nope.yaml"):
        load_config(tmp_path / "nope.yaml")


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)


def test_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "trainmaster.yaml").write_bytes(b"project: \xff\xfe\xfa\ntrain: []\n")
    with pytest.raises(ConfigError, match="not valid UTF-8"):
        load_config(tmp_path / "trainmaster.yaml")
