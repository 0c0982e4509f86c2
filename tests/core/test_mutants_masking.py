"""Masking at its edges, and which resolved variables count as public."""

from __future__ import annotations

from trainmaster.config.model import SecretRef
from trainmaster.masking import Masker, MaskingStream
from trainmaster.variables import resolve_variables


def test_a_secret_repeated_over_itself_is_masked_whole() -> None:
    assert Masker(["aa"]).mask("xaaay") == "x***y"  # "aa" at 1 and at 2: nothing of either is left
    assert Masker(["abab"]).mask("ababab") == "***"


def test_a_line_of_a_multi_line_secret_is_masked_alone_from_four_characters() -> None:
    masker = Masker(["abcd\nxyz\nlonger-line"])
    assert masker.mask("[abcd] [xyz] [longer-line]") == "[***] [xyz] [***]"


def test_a_whole_secret_before_the_start_of_another_is_emitted_at_once() -> None:
    received: list[str] = []
    stream = MaskingStream(received.append, Masker(["abc", "qz"]))
    stream.feed("abcq")  # "abc" is complete; only "q" may still become a secret
    assert (received, stream.held) == (["***"], "q")
    stream.feed("z!")
    stream.close()
    assert "".join(received) == "******!"


def test_secret_variables_are_not_public() -> None:
    ref = SecretRef("env:DB_PASSWORD")
    resolved = resolve_variables({"COLOUR": "blue", "DB": ref}, {"env": lambda name, environ: environ[name]},
                                 {"DB_PASSWORD": "hunter2"}, "prod")
    assert resolved.values == {"COLOUR": "blue", "DB": "hunter2"}
    assert resolved.public == {"COLOUR": "blue"} and resolved.secrets == ["hunter2"]


def test_the_lines_of_a_secret_split_by_carriage_returns_are_masked_alone() -> None:
    assert Masker(["first-line\rsecond-line"]).mask("[second-line]") == "[***]"
