"""A small JSON Schema (2020-12 subset) walker that reports errors with positions.

Supported keywords: ``$ref`` (local ``#/...`` pointers), ``type``, ``enum``,
``const``, ``properties``, ``patternProperties``, ``additionalProperties``,
``propertyNames``, ``required``, ``minProperties``, ``maxProperties``, ``items``,
``prefixItems``, ``minItems``, ``maxItems``, ``uniqueItems``, ``minLength``,
``maxLength``, ``pattern``, ``minimum``, ``maximum``, ``exclusiveMinimum``,
``exclusiveMaximum``, ``anyOf``, ``oneOf``, ``allOf``, ``not`` and
``if``/``then``/``else``. Annotations (``title``, ``description``, ``default``,
``format`` …) are ignored. Error messages never repeat a string value matched
against a pattern, so a mistyped secret is not echoed.
"""

from __future__ import annotations

import json
import operator
import re
from typing import Any

from trainmaster.config._values import DURATION_EXPECTED
from trainmaster.config._where import inside, where
from trainmaster.config._yaml import Document, PathKey
from trainmaster.errors import ConfigError

FRIENDLY: dict[str, str] = {
    "name": "a name made of letters, digits, '.', '_' and '-'",
    "duration": DURATION_EXPECTED,
    "envName": "an environment variable name (letters, digits and _, not starting with a digit)",
    "variableName": "a variable name (letters, digits and _, not starting with a digit) "
    "that does not start with TRAINMASTER_ (reserved)",
    "secretRef": "a secret reference {secret: SCHEME:NAME}",
    "secretRefString": "a secret reference SCHEME:NAME such as env:PROD_DB_PASSWORD "
    "(a literal secret value is not allowed)",
    "variableValue": "a string, a number, true/false, or {secret: SCHEME:NAME}",
    "variables": "a mapping of variable names to values",
    "package": "a path string or a mapping {path, deploy, smoke, media_type}",
    "monitor": "a mapping {command, every, for}",
    "approvals": "a count (an integer >= 0) or {count, from: [names]}",
    "weekday": "a weekday: mon, tue, wed, thu, fri, sat or sun",
    "days": "a list of weekdays (mon..sun) or a range such as mon-fri",
    "dayRange": "a weekday: mon, tue, wed, thu, fri, sat or sun, or a range such as mon-fri",
    "hours": "hours as HH:MM-HH:MM, such as 09:00-17:00 (the end may be 24:00)",
    "window": "a mapping {days, hours, timezone}",
    "freeze": "a mapping {from, to}",
    "environment": "an environment mapping with at least 'name'",
    "defaults": "a mapping of environment settings",
    "stage": "a stage mapping {stage, environments, require}",
    "trainItem": "an environment {name, ...} or a stage {stage, environments, require}",
    "notifier": "a mapping {webhook, events, format, secret}",
    "webhook": "an http(s) URL or {secret: SCHEME:NAME}",
}

_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "nothing (null)",
}


class _Invalid(Exception):
    def __init__(
        self,
        message: str,
        path: PathKey,
        *,
        at_key: bool = False,
        key: str | None = None,
        suggestion: str | None = None,
        leaf: bool = False,
        got: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.at_key = at_key
        self.key = key
        self.suggestion = suggestion
        self.leaf = leaf
        self.got = got


def kind(value: object) -> str:
    """``a mapping``, ``a list``, ``a string`` … for messages."""
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "nothing (null)"
    for name, types in (("a mapping", dict), ("a list", list), ("a string", str), ("a number", (int, float))):
        if isinstance(value, types):
            return name
    return type(value).__name__


def _is_type(value: object, name: str) -> bool:
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "string":
        return isinstance(value, str)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return name == "number" or float(value).is_integer()


class Validator:
    """Validates plain data of ``doc`` against ``root`` (a JSON Schema dict)."""

    def __init__(self, root: dict[str, Any], doc: Document) -> None:
        self.root = root
        self.doc = doc
        self._sink: list[_Invalid] | None = None  # collecting: where problems go instead of being raised

    def check(self, value: Any, schema: Any, path: PathKey = ()) -> None:
        """Raise :class:`ConfigError` at the first place ``value`` breaks ``schema``."""
        try:
            self._validate(value, schema, path)
        except _Invalid as exc:
            raise self.doc.error(
                exc.message, exc.path, at_key=exc.at_key, key=exc.key, suggestion=exc.suggestion
            ) from None

    def check_all(self, value: Any, schema: Any, path: PathKey = ()) -> list[ConfigError]:
        """Every place ``value`` breaks ``schema``, in the order :meth:`check` would find them.

        Each key of a mapping and each item of a list is checked on its own, so one bad
        entry does not hide the next; alternatives (``anyOf``, ``oneOf``, ``if``) still
        report one problem for the value they judge.
        """
        self._sink = []
        try:
            self._validate(value, schema, path)
        except _Invalid as exc:
            self._sink.append(exc)
        found, self._sink = self._sink, None
        return [self.doc.error(exc.message, exc.path, at_key=exc.at_key, key=exc.key, suggestion=exc.suggestion)
                for exc in found]

    def is_valid(self, value: Any, schema: Any, path: PathKey = ()) -> bool:
        sink, self._sink = self._sink, None  # trying a value: its problems are an answer, not a report
        try:
            self._validate(value, schema, path)
        except _Invalid:
            return False
        finally:
            self._sink = sink
        return True

    def _report(self, exc: _Invalid) -> None:
        """Raise ``exc``, or when collecting, note it and carry on with the next key or item."""
        if self._sink is None:
            raise exc
        self._sink.append(exc)

    def _child(self, value: Any, schema: Any, path: PathKey) -> None:
        try:
            self._validate(value, schema, path)
        except _Invalid as exc:
            self._report(exc)

    # -- helpers -----------------------------------------------------------------------

    def _resolve(self, ref: str) -> Any:
        if not ref.startswith("#"):
            raise ValueError(f"only local $ref is supported, got {ref!r}")
        node: Any = self.root
        for part in ref[1:].split("/")[1:]:
            part = part.replace("~1", "/").replace("~0", "~")
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node

    def _where(self, path: PathKey) -> str:
        return where(self.doc.data, path)

    def _leaf(self, path: PathKey, expected: str, got: str | None = None) -> _Invalid:
        message = f"invalid {self._where(path)}: expected {expected}"
        if got:
            message += f", got {got}"
        return _Invalid(message, path, leaf=True, got=got)

    def describe(self, schema: Any) -> str:
        """What a value matching ``schema`` looks like, in words."""
        if not isinstance(schema, dict):
            return "anything" if schema else "nothing"
        ref = schema.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            return FRIENDLY.get(name) or self.describe(self._resolve(ref))
        if "enum" in schema:
            return "one of " + ", ".join(map(str, schema["enum"]))
        if "const" in schema:
            return json.dumps(schema["const"])
        for combinator in ("anyOf", "oneOf"):
            if combinator in schema:
                return " or ".join(self.describe(branch) for branch in schema[combinator])
        types = schema.get("type")
        if isinstance(types, str):
            types = [types]
        if types:
            return " or ".join(_TYPE_NAMES.get(t, t) for t in types)
        return "a valid value"

    def _type_of(self, schema: Any) -> list[str] | None:
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema and "type" not in schema and seen < 20:
            schema = self._resolve(schema["$ref"])
            seen += 1
        if not isinstance(schema, dict) or "type" not in schema:
            return None
        types = schema["type"]
        return [types] if isinstance(types, str) else list(types)

    # -- the walk ----------------------------------------------------------------------

    def _validate(self, value: Any, schema: Any, path: PathKey) -> None:
        if schema is True or schema == {}:
            return
        if schema is False:
            raise _Invalid(f"{self._where(path)} is not allowed here", path)
        ref = schema.get("$ref")
        if isinstance(ref, str):
            try:
                self._validate(value, self._resolve(ref), path)
            except _Invalid as exc:
                friendly = FRIENDLY.get(ref.rsplit("/", 1)[-1])
                if friendly and exc.leaf and exc.path == path:
                    raise self._leaf(path, friendly, exc.got) from None
                raise
        self._check_type(value, schema, path)
        self._check_value(value, schema, path)
        if isinstance(value, dict):
            self._check_object(value, schema, path)
        elif isinstance(value, list):
            self._check_array(value, schema, path)
        self._check_combinators(value, schema, path)

    def _check_type(self, value: Any, schema: dict[str, Any], path: PathKey) -> None:
        types = schema.get("type")
        if types is None:
            return
        names = [types] if isinstance(types, str) else list(types)
        if not any(_is_type(value, name) for name in names):
            expected = " or ".join(_TYPE_NAMES.get(n, n) for n in names)
            raise self._leaf(path, expected, kind(value))

    def _check_value(self, value: Any, schema: dict[str, Any], path: PathKey) -> None:
        if "enum" in schema and not any(_same(value, option) for option in schema["enum"]):
            options = [str(option) for option in schema["enum"]]
            exc = self._leaf(path, "one of " + ", ".join(options))
            if isinstance(value, str | int | float) and not isinstance(value, bool):
                exc.message += f", got '{value}'"
                import difflib

                exc.suggestion = next(iter(difflib.get_close_matches(str(value), options, n=1)), None)
            raise exc
        if "const" in schema and not _same(value, schema["const"]):
            raise self._leaf(path, json.dumps(schema["const"]))
        if isinstance(value, str):
            self._check_size(len(value), schema, path, "minLength", "maxLength", "string", "characters")
            if "pattern" in schema and not _matches(schema["pattern"], value):
                raise self._leaf(path, f"a string matching {schema['pattern']}")
        elif _is_type(value, "number"):
            bounds = (
                ("minimum", operator.ge, ">="),
                ("maximum", operator.le, "<="),
                ("exclusiveMinimum", operator.gt, ">"),
                ("exclusiveMaximum", operator.lt, "<"),
            )
            for keyword, ok, sign in bounds:
                if keyword in schema and not ok(value, schema[keyword]):
                    raise self._leaf(path, f"a number {sign} {schema[keyword]}", f"{value}")

    def _check_object(self, value: dict[str, Any], schema: dict[str, Any], path: PathKey) -> None:
        properties: dict[str, Any] = schema.get("properties", {})
        patterns: dict[str, Any] = schema.get("patternProperties", {})
        additional = schema.get("additionalProperties", True)
        names = schema.get("propertyNames")
        rejected: set[str] = set()  # keys already reported: their values are not checked as well
        for key in value:
            if names is not None and not self.is_valid(key, names, (*path, key)):
                rejected.add(key)
                self._report(_Invalid(
                    f"invalid key '{key}' {inside(self.doc.data, path)}: expected {self.describe(names)}",
                    (*path, key),
                    at_key=True,
                    key=key,
                ))
                continue
            if key in properties or any(re.search(p, key) for p in patterns):
                continue
            if additional is False:
                rejected.add(key)
                import difflib

                suggestion = next(
                    iter(difflib.get_close_matches(key, list(properties), n=1, cutoff=0.6)), None
                )
                self._report(_Invalid(
                    f"unknown key '{key}' {inside(self.doc.data, path)}",
                    (*path, key),
                    at_key=True,
                    key=key,
                    suggestion=suggestion,
                ))
        for key in schema.get("required", []):
            if key not in value:
                self._report(_Invalid(f"missing required key '{key}' {inside(self.doc.data, path)}", path, key=key))
        if len(value) < schema.get("minProperties", 0):
            raise self._leaf(path, f"a mapping with at least {schema['minProperties']} keys")
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            raise self._leaf(path, f"a mapping with at most {schema['maxProperties']} keys")
        for key, item in value.items():
            if key in rejected:
                continue
            child = (*path, key)
            matched = False
            if key in properties:
                matched = True
                self._child(item, properties[key], child)
            for pattern, sub in patterns.items():
                if re.search(pattern, key):
                    matched = True
                    self._child(item, sub, child)
            if not matched and additional is not True:
                self._child(item, additional, child)

    def _check_size(self, size: int, schema: dict[str, Any], path: PathKey, low: str, high: str, noun: str,
                    unit: str) -> None:
        """``minLength``/``maxLength`` or ``minItems``/``maxItems``: ``size`` within the bounds ``schema`` sets."""
        if size < schema.get(low, 0):
            least = schema[low]
            raise self._leaf(path, f"a non-empty {noun}" if least == 1 else f"a {noun} of at least {least} {unit}")
        if high in schema and size > schema[high]:
            raise self._leaf(path, f"a {noun} of at most {schema[high]} {unit}")

    def _check_array(self, value: list[Any], schema: dict[str, Any], path: PathKey) -> None:
        self._check_size(len(value), schema, path, "minItems", "maxItems", "list", "items")
        prefix = schema.get("prefixItems", [])
        for index, item in enumerate(value):
            if index < len(prefix):
                self._child(item, prefix[index], (*path, index))
            elif "items" in schema:
                self._child(item, schema["items"], (*path, index))
        if schema.get("uniqueItems"):
            seen: list[Any] = []
            for index, item in enumerate(value):
                if any(_same(item, other) for other in seen):
                    raise _Invalid(
                        f"invalid {self._where(path)}: item {index + 1} repeats an earlier one",
                        (*path, index),
                    )
                seen.append(item)

    def _check_combinators(self, value: Any, schema: dict[str, Any], path: PathKey) -> None:
        for sub in schema.get("allOf", []):
            self._validate(value, sub, path)
        for combinator in ("anyOf", "oneOf"):
            if combinator in schema:
                self._check_alternatives(value, schema, schema[combinator], path, combinator == "oneOf")
        if "not" in schema and self.is_valid(value, schema["not"], path):
            raise self._leaf(path, f"not {self.describe(schema['not'])}")
        if "if" in schema:
            branch = schema.get("then") if self.is_valid(value, schema["if"], path) else schema.get("else")
            if branch is not None:
                self._validate(value, branch, path)

    def _check_alternatives(
        self, value: Any, schema: dict[str, Any], branches: list[Any], path: PathKey, exactly_one: bool
    ) -> None:
        failures: list[tuple[Any, _Invalid]] = []
        sink, self._sink = self._sink, None  # each branch is a trial: its problems are not reported
        try:
            for branch in branches:
                try:
                    self._validate(value, branch, path)
                except _Invalid as exc:
                    failures.append((branch, exc))
        finally:
            self._sink = sink
        passed = len(branches) - len(failures)
        if passed == 1 or (passed > 1 and not exactly_one):
            return
        if passed > 1:
            raise self._leaf(path, "a value matching exactly one alternative")
        typed = [exc for branch, exc in failures if _type_fits(value, self._type_of(branch))]
        if len(typed) == 1:
            raise typed[0]
        expected = " or ".join(self.describe(branch) for branch in branches)
        raise self._leaf(path, expected, kind(value))


def _matches(pattern: str, value: str) -> bool:
    """``re.search`` with JSON Schema's ``$``: the end of the string, never before a final newline."""
    found = re.search(pattern, value)
    if found is None:
        return False
    return not (pattern.endswith("$") and not pattern.endswith("\\$") and found.end() != len(value))


def _type_fits(value: Any, types: list[str] | None) -> bool:
    return types is not None and any(_is_type(value, name) for name in types)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return bool(a == b)


def validate(doc: Document, schema: dict[str, Any]) -> list[ConfigError]:
    """Every place ``doc.data`` breaks ``schema`` (empty when it is valid), first problem first."""
    return Validator(schema, doc).check_all(doc.data, schema)


def first_error(data: Any, schema: dict[str, Any]) -> tuple[PathKey, str] | None:
    """The first place plain ``data`` (not read from YAML) breaks ``schema``: ``(path, message)``, or None."""
    try:
        Validator(schema, Document(file="", data=data))._validate(data, schema, ())
    except _Invalid as exc:
        return exc.path, exc.message
    return None
