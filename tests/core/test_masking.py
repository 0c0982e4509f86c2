"""Secret masking: whole texts, and live streams cut at arbitrary places."""

from __future__ import annotations

import random

import pytest

from trainmaster.masking import MASK, Masker, MaskingStream


def test_mask_replaces_every_occurrence() -> None:
    masker = Masker(["s3cr3t"])
    assert masker.mask("a s3cr3t and s3cr3t again") == "a *** and *** again"


def test_empty_secret_is_ignored_and_short_ones_are_masked() -> None:
    masker = Masker(["", "ab"])
    assert masker.patterns == ("ab",)
    assert masker.mask("xaby") == "x***y"


def test_longest_secret_first() -> None:
    masker = Masker(["abc", "abcdef"])
    assert masker.mask("--abcdef--abc--") == "--***--***--"


def test_overlapping_secrets_leave_nothing_of_either() -> None:
    masker = Masker(["abcd", "cdxy"])
    assert masker.mask("abcdxy") == "***"


def test_multiline_secret_lines_masked_individually() -> None:
    key = "-----BEGIN KEY-----\nMIIBOgIBAAJB\nxyz\n-----END KEY-----"
    masker = Masker([key])
    assert masker.mask(f"key: {key}") == "key: ***"
    assert masker.mask("line MIIBOgIBAAJB printed alone") == "line *** printed alone"
    assert masker.mask("xyz is too short to mask alone") == "xyz is too short to mask alone"
    assert masker.mask(key.replace("\n", "\r\n")).count("MIIB") == 0


def test_add_later() -> None:
    masker = Masker()
    assert masker.mask("token") == "token"
    masker.add("token")
    assert masker.mask("token") == MASK


def _stream(masker: Masker, chunks: list[str]) -> tuple[str, list[str]]:
    received: list[str] = []
    stream = MaskingStream(received.append, masker)
    for chunk in chunks:
        stream.feed(chunk)
    stream.close()
    return "".join(received), received


def test_stream_masks_secret_split_across_chunks() -> None:
    text, pieces = _stream(Masker(["abcdef"]), ["xx abc", "def yy"])
    assert text == "xx *** yy"
    assert all("abc" not in piece for piece in pieces)


def test_stream_emits_safe_text_immediately() -> None:
    received: list[str] = []
    stream = MaskingStream(received.append, Masker(["secret"]))
    stream.feed("hello world\n")
    assert received == ["hello world\n"]
    stream.feed("partial sec")
    assert "".join(received) == "hello world\npartial "
    assert stream.held == "sec"
    stream.feed("ond")
    assert "".join(received) == "hello world\npartial second"


def test_stream_holds_longest_possible_start() -> None:
    # "a" and "aa" are both starts of "aab": holding back only "a" would leak.
    text, pieces = _stream(Masker(["aab"]), ["xaa", "b"])
    assert text == "x***"
    assert "".join(pieces[:1]) == "x"


def test_stream_without_secrets_passes_through() -> None:
    assert _stream(Masker(), ["a", "b"]) == ("ab", ["a", "b"])


def test_feed_after_close_is_an_error() -> None:
    stream = MaskingStream(lambda _: None, Masker(["x"]))
    stream.close()
    with pytest.raises(ValueError):
        stream.feed("x")


def _random_split(rng: random.Random, text: str) -> list[str]:
    cuts = sorted(rng.sample(range(1, len(text)), k=rng.randint(0, min(12, len(text) - 1))))
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]


def test_stream_equals_whole_text_masking_for_random_chunkings() -> None:
    """Property: however the text is cut, the stream outputs exactly mask(text),
    and no emitted piece (nor any two consecutive ones) holds a secret."""
    rng = random.Random(20240601)
    secrets = ["abcdef", "aab", "xyzzy", "ab\ncdef-line", "p@ss", "ééé€"]
    masker = Masker(secrets)
    alphabet = "abcdefxyzp@s\n -é€"
    for _ in range(400):
        filler = [rng.choice(alphabet) * rng.randint(1, 3) for _ in range(rng.randint(1, 12))]
        parts = filler + rng.sample(secrets, k=rng.randint(1, 3))
        rng.shuffle(parts)
        text = "".join(parts)
        chunks = _random_split(rng, text)
        output, pieces = _stream(masker, chunks)
        assert output == masker.mask(text), (text, chunks)
        for secret in masker.patterns:
            assert secret not in output
            for a, b in zip(pieces, pieces[1:], strict=False):
                assert secret not in a + b


def test_stream_output_is_live_for_random_text_without_secret_starts() -> None:
    """Text that holds no character starting a secret is never held back."""
    rng = random.Random(7)
    masker = Masker(["Zq-secret"])
    for _ in range(200):
        text = "".join(rng.choice("abc \n") for _ in range(rng.randint(2, 60)))
        received: list[str] = []
        stream = MaskingStream(received.append, masker)
        for chunk in _random_split(rng, text):
            stream.feed(chunk)
            assert stream.held == ""
        assert "".join(received) == text
