"""Read ``trainmaster.yaml`` into plain data, remembering where every node was.

The document is composed (not constructed) so that each value and each key keeps
its 1-based line and column. Duplicate keys, tabs, unsupported tags and YAML
syntax errors become :class:`~trainmaster.errors.ConfigError`.

Limits, so that no file can exhaust memory or time: the file must be a regular file
of at most :data:`MAX_CONFIG_BYTES`; walking it (aliases expanded) may visit at most
:data:`MAX_NODES` nodes; no string (key or value) may hold a control character other
than tab and newline (NUL, escape sequences, carriage return …).
"""

from __future__ import annotations

import os
import stat
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from trainmaster.errors import ConfigError

PathKey = tuple[str | int, ...]

MAX_CONFIG_BYTES = 1 << 20
"""The largest config file read (1 MiB)."""
MAX_NODES = 100_000
"""The most nodes a document may expand to, aliases counted at each use."""
_ALLOWED_CONTROLS = "\t\n"

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE = "tag:yaml.org,2002:merge"
_PLAIN_SCALAR_TAGS = {
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}


@dataclass
class Document:
    """Plain data (dicts, lists, str, int, float, bool, None) plus node positions.

    ``marks`` holds the (line, column) of the value at each path, ``key_marks`` the
    position of the key that leads to it, ``raw`` the text of each scalar as written.
    """

    file: str
    data: Any
    marks: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    key_marks: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    raw: dict[PathKey, str] = field(default_factory=dict)

    def mark(self, path: PathKey, *, at_key: bool = False) -> tuple[int | None, int | None]:
        """Position of ``path`` (of its key when ``at_key``), else of its nearest ancestor."""
        if at_key and path in self.key_marks:
            return self.key_marks[path]
        while True:
            if path in self.marks:
                return self.marks[path]
            if not path:
                return None, None
            path = path[:-1]

    def error(self, message: str, path: PathKey, *, at_key: bool = False, **extra: Any) -> ConfigError:
        """A :class:`ConfigError` located at ``path`` (at its key when ``at_key``)."""
        line, column = self.mark(path, at_key=at_key)
        return ConfigError(message, file=self.file, line=line, column=column, **extra)


def read_document(path: Path, display: str) -> Document:
    """Read and compose the YAML file at ``path``; ``display`` names it in messages."""
    raw_bytes = _read_bounded(path, display)
    try:
        text = raw_bytes.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {display} is not valid UTF-8 (byte {exc.start})", file=display
        ) from None
    return parse_document(text, display)


def _read_bounded(path: Path, display: str) -> bytes:
    """The bytes of a regular file of at most :data:`MAX_CONFIG_BYTES` (a FIFO or device is never opened)."""
    try:
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            what = "a directory" if stat.S_ISDIR(mode) else "not a regular file (a device, FIFO or socket)"
            raise ConfigError(f"config path {display} is {what}; expected a regular file with YAML",
                              file=display)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped since the stat
                raise ConfigError(f"config path {display} is not a regular file", file=display)
            chunks, size = [], 0
            while size <= MAX_CONFIG_BYTES:
                chunk = os.read(fd, MAX_CONFIG_BYTES + 1 - size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        finally:
            os.close(fd)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {display}", file=display) from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {display}: {exc.strerror or exc}", file=display) from None
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {display} is larger than 1 MiB; a config that big is not a config",
                          file=display)
    return b"".join(chunks)


def parse_document(text: str, display: str) -> Document:
    """Compose ``text`` into a :class:`Document`; ``display`` names the file in messages."""
    loader = _Loader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            raise _syntax_error(exc, text, display) from None
        except yaml.YAMLError as exc:  # pragma: no cover - unmarked reader errors
            raise ConfigError(f"invalid YAML: {exc}", file=display) from None
        if node is None:
            raise ConfigError(
                "the config file is empty; expected a mapping with at least 'project' and 'train'",
                file=display,
                line=1,
                column=1,
            )
        doc = Document(file=display, data=None)
        builder = _Builder(loader, doc)
        try:
            doc.data = builder.build(node, ())
        except RecursionError:
            raise doc.error("the document is nested too deeply", ()) from None
        if not isinstance(doc.data, dict):
            raise doc.error(
                f"the document is {_kind(doc.data)}; expected a mapping with at least 'project' and 'train'",
                (),
            )
        return doc
    finally:
        loader.dispose()


def _kind(value: object) -> str:
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "empty"
    return "a single value"


def _syntax_error(exc: yaml.MarkedYAMLError, text: str, display: str) -> ConfigError:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    column = mark.column + 1 if mark is not None else None
    parts = [p for p in (exc.context, exc.problem) if p]
    message = "invalid YAML: " + (", ".join(parts) if parts else "syntax error")
    if mark is not None:
        lines = text.splitlines()
        if mark.line < len(lines) and "\t" in lines[mark.line][: mark.column + 1]:
            message += " (tabs are not allowed for indentation; use spaces)"
    return ConfigError(message, file=display, line=line, column=column)


class _Builder:
    """Walks composed nodes into plain data, recording positions as it goes."""

    def __init__(self, loader: Any, doc: Document) -> None:
        self.loader = loader
        self.doc = doc
        self.active: set[int] = set()
        self.nodes = 0

    def build(self, node: yaml.Node, path: PathKey) -> Any:
        mark = node.start_mark
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.doc.error(f"the document expands to more than {MAX_NODES:,} nodes (aliases counted "
                                 "each time they are used); is it an alias bomb?", path)
        self.doc.marks[path] = (mark.line + 1, mark.column + 1)
        if isinstance(node, yaml.ScalarNode):
            self.doc.raw[path] = node.value
            return self._scalar(node, path)
        if id(node) in self.active:
            raise self.doc.error("an alias refers to the node that contains it (recursive alias)", path)
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                self._check_tag(node, "tag:yaml.org,2002:seq", path)
                return [self.build(item, (*path, index)) for index, item in enumerate(node.value)]
            if isinstance(node, yaml.MappingNode):
                self._check_tag(node, "tag:yaml.org,2002:map", path)
                return self._mapping(node, path)
        finally:
            self.active.discard(id(node))
        raise self.doc.error("unsupported YAML node", path)  # pragma: no cover

    def _check_tag(self, node: yaml.Node, expected: str, path: PathKey) -> None:
        if node.tag != expected:
            raise self.doc.error(f"unsupported YAML tag '{node.tag}'", path)

    def _scalar(self, node: yaml.ScalarNode, path: PathKey) -> Any:
        tag = node.tag
        self._check_controls(node.value, path)
        if tag == "tag:yaml.org,2002:str":
            return node.value
        if tag == "tag:yaml.org,2002:timestamp":
            return node.value  # kept as written; freeze times are parsed as ISO 8601 later
        if tag in _PLAIN_SCALAR_TAGS:
            try:
                return self.loader.construct_object(node, deep=True)
            except (yaml.YAMLError, ValueError):
                raise self.doc.error(f"invalid {tag.rsplit(':', 1)[-1]} value", path) from None
        raise self.doc.error(f"unsupported YAML tag '{tag}'", path)

    def _mapping(self, node: yaml.MappingNode, path: PathKey) -> dict[str, Any]:
        seen: dict[str, tuple[int, int]] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE:
                continue
            key = self._key(key_node, path)
            here = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key in seen:
                first_line = seen[key][0]
                raise ConfigError(
                    f"duplicate key '{key}' (first given at line {first_line}); each key may appear once",
                    file=self.doc.file,
                    line=here[0],
                    column=here[1],
                    key=key,
                )
            seen[key] = here
        if any(key_node.tag == _MERGE for key_node, _ in node.value):
            try:
                self.loader.flatten_mapping(node)
            except yaml.MarkedYAMLError as exc:
                mark = exc.problem_mark
                raise ConfigError(
                    f"invalid merge key: {exc.problem}",
                    file=self.doc.file,
                    line=mark.line + 1 if mark else None,
                    column=mark.column + 1 if mark else None,
                ) from None
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self._key(key_node, path)
            child = (*path, key)
            self.doc.key_marks[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            result[key] = self.build(value_node, child)
        return result

    def _key(self, key_node: yaml.Node, path: PathKey) -> str:
        line, column = key_node.start_mark.line + 1, key_node.start_mark.column + 1
        if not isinstance(key_node, yaml.ScalarNode):
            raise ConfigError(
                "expected a plain key, got a mapping or list", file=self.doc.file, line=line, column=column
            )
        key = str(key_node.value)
        if _control(key, ""):
            raise ConfigError("a key holds a control character; keys are printable text",
                              file=self.doc.file, line=line, column=column)
        return key

    def _check_controls(self, text: str, path: PathKey) -> None:
        found = _control(text, _ALLOWED_CONTROLS)
        if found:
            raise self.doc.error(f"this value holds the control character U+{ord(found):04X}; only tab and "
                                 "newline are allowed", path)


def _control(text: str, allowed: str) -> str:
    """The first control character of ``text`` not in ``allowed``, or ``""``."""
    for char in text:
        if char not in allowed and unicodedata.category(char) == "Cc":
            return char
    return ""
