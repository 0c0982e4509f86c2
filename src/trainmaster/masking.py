"""Secret masking for everything trainmaster prints or records.

A :class:`Masker` knows the secret values of a run and replaces every occurrence of
any of them with ``***``. A :class:`MaskingStream` applies it to live output that
arrives in arbitrary chunks, so a secret split across two reads is still masked,
while everything that cannot be part of a secret is passed on at once.

Masking is by value. Every non-empty secret is masked, however short: a
one-character secret would turn every occurrence of that character into ``***``.
That is deliberate (leaking beats garbling nothing), so keep secrets meaningful.
Like GitHub Actions, each line of a multi-line secret (a PEM key, say) is also
masked on its own when it is at least :data:`MIN_LINE_LENGTH` characters long,
because tools often print such values line by line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

MASK = "***"
"""What every secret occurrence is replaced with."""

MIN_LINE_LENGTH = 4
"""A line of a multi-line secret is masked on its own from this length on."""


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sort and merge overlapping ``(start, end)`` spans."""
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start < merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


class Masker:
    """Replaces every occurrence of known secret values with ``***``.

    Occurrences are found for every pattern independently, including overlapping
    ones, and the union of their spans is masked. The result is the same as
    replacing the longest secrets first, and no part of two overlapping secrets
    survives.

    :param secrets: the secret values; empty ones are ignored.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._patterns: list[str] = []
        for value in secrets:
            self.add(value)

    def add(self, value: str) -> None:
        """Mask ``value`` from now on (and each of its lines of 4+ characters)."""
        if not value:
            return
        candidates = [value]
        if "\n" in value or "\r" in value:
            for line in value.splitlines():
                line = line.strip("\r")
                if len(line) >= MIN_LINE_LENGTH:
                    candidates.append(line)
        changed = False
        for candidate in candidates:
            if candidate not in self._patterns:
                self._patterns.append(candidate)
                changed = True
        if changed:
            self._patterns.sort(key=len, reverse=True)

    @property
    def patterns(self) -> tuple[str, ...]:
        """Every string that is masked, longest first."""
        return tuple(self._patterns)

    def __bool__(self) -> bool:
        return bool(self._patterns)

    def spans(self, text: str) -> list[tuple[int, int]]:
        """The merged ``(start, end)`` spans of ``text`` that hold secret values."""
        found: list[tuple[int, int]] = []
        for pattern in self._patterns:
            index = text.find(pattern)
            while index != -1:
                found.append((index, index + len(pattern)))
                index = text.find(pattern, index + 1)
        return _merge(found)

    def mask(self, text: str) -> str:
        """Return ``text`` with every secret occurrence replaced by ``***``."""
        if not self._patterns or not text:
            return text
        return self._apply(text, self.spans(text))

    @staticmethod
    def _apply(text: str, spans: list[tuple[int, int]]) -> str:
        if not spans:
            return text
        parts: list[str] = []
        position = 0
        for start, end in spans:
            parts.append(text[position:start])
            parts.append(MASK)
            position = end
        parts.append(text[position:])
        return "".join(parts)

    def pending_start(self, text: str) -> int:
        """The earliest index whose tail of ``text`` may still grow into a secret.

        That is the start of the longest suffix of ``text`` that is a proper prefix
        of some secret; ``len(text)`` when there is none.
        """
        best = len(text)
        for pattern in self._patterns:
            first = pattern[0]
            index = text.find(first, max(0, len(text) - len(pattern) + 1))
            while index != -1 and index < best:
                if pattern.startswith(text[index:]):
                    best = index
                    break
                index = text.find(first, index + 1)
        return best


class MaskingStream:
    """Masks secrets in text that arrives in chunks, and passes it on live.

    Each :meth:`feed` emits, masked, everything that can no longer be part of a
    secret, and holds back only the shortest tail that still could: the longest
    suffix that is the start of some secret, plus any secret occurrence that
    overlaps it. :meth:`close` flushes the rest.

    :param write: the sink that receives masked text.
    :param masker: the secrets to mask.
    """

    def __init__(self, write: Callable[[str], None], masker: Masker) -> None:
        self._write = write
        self._masker = masker
        self._buffer = ""
        self._closed = False

    @property
    def held(self) -> str:
        """The text currently held back (unmasked; for tests and diagnostics)."""
        return self._buffer

    def feed(self, chunk: str) -> None:
        """Add ``chunk`` and emit every part of the output that is now safe."""
        if self._closed:
            raise ValueError("feed() after close()")
        if not chunk:
            return
        text = self._buffer + chunk
        if not self._masker:
            self._buffer = ""
            self._write(text)
            return
        spans = self._masker.spans(text)
        cut = self._masker.pending_start(text)
        for start, end in spans:
            if start < cut < end:
                cut = start
                break
        if cut == 0:
            self._buffer = text
            return
        emitted = [(start, end) for start, end in spans if end <= cut]
        self._buffer = text[cut:]
        self._write(Masker._apply(text[:cut], emitted))

    def close(self) -> None:
        """Emit whatever is held back, masked. Feeding afterwards is an error."""
        if self._closed:
            return
        self._closed = True
        if self._buffer:
            text, self._buffer = self._buffer, ""
            self._write(self._masker.mask(text))
