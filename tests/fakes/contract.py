"""Match HTTP requests to the operations of an official API description.

A :class:`Contract` loads one description from ``tests/contracts/`` (Swagger 2.0 or OpenAPI 3.0),
compiles every path template (``paths`` and Azure's ``x-ms-paths``) and checks a request's method,
path parameters, query parameters and JSON body. Body schemas are validated with ``jsonschema``
(draft 4 semantics, which is what Swagger 2.0 and OpenAPI 3.0 schemas use); OpenAPI 3 ``nullable`` is
rewritten into a JSON-Schema ``null`` type first. Unknown properties are always allowed, because newer
servers add fields (see tests/contracts/README.md).
"""

from __future__ import annotations

import copy
import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

CONTRACTS_DIR = Path(__file__).resolve().parent.parent / "contracts"
METHODS = ("get", "put", "post", "patch", "delete", "head", "options")


class ContractViolation(Exception):
    """A request the real API would not accept. ``status`` is the 4xx the fake answers with."""

    def __init__(self, status: int, message: str, operation_id: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.operation_id = operation_id


@dataclass
class Operation:
    operation_id: str
    method: str
    template: str
    regex: re.Pattern[str]
    literal_weight: tuple[int, int]
    params: dict[str, dict[str, Any]]  # path/query/formData parameters by (in, name)
    body_schema: dict[str, Any] | None
    body_required: bool
    content_types: list[str]
    discriminators: list[str]
    servers: list[str]
    groups: dict[str, str]
    spec: dict[str, Any] = field(repr=False, default_factory=dict)

    def query_params(self) -> list[dict[str, Any]]:
        return [p for p in self.params.values() if p["in"] == "query"]

    def path_params(self) -> dict[str, dict[str, Any]]:
        return {p["name"]: p for p in self.params.values() if p["in"] == "path"}


@dataclass
class Match:
    operation: Operation
    path_params: dict[str, str]
    body: Any = None


def _nullable_to_jsonschema(node: Any) -> Any:
    """Rewrite OpenAPI 3.0 ``nullable: true`` into draft-4 ``type: [..., "null"]``."""
    if isinstance(node, list):
        return [_nullable_to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable_to_jsonschema(v) for k, v in node.items() if k != "example"}
    if out.pop("nullable", False) is True:
        t = out.get("type")
        if isinstance(t, str):
            out["type"] = [t, "null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
        elif t is None:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


class Contract:
    """One API description. ``case_insensitive`` compares literal path segments ignoring case."""

    def __init__(self, filename: str, *, case_insensitive: bool = False, host_tag: str | None = None,
                 doc: dict[str, Any] | None = None):
        self.filename = filename
        self.doc = doc if doc is not None else json.loads((CONTRACTS_DIR / filename).read_text(encoding="utf-8"))
        self.case_insensitive = case_insensitive
        self.host_tag = host_tag or self.doc.get("host")
        self.is_openapi3 = "openapi" in self.doc
        self.base_path = "" if self.is_openapi3 else (self.doc.get("basePath") or "").rstrip("/")
        self._root: dict[str, Any] | None = None
        self.operations: list[Operation] = []
        self.by_id: dict[str, Operation] = {}
        for key in ("paths", "x-ms-paths"):
            for raw_path, item in (self.doc.get(key) or {}).items():
                for method in METHODS:
                    if method in item:
                        op = self._compile(raw_path, method, item)
                        self.operations.append(op)
                        self.by_id[op.operation_id] = op
        self.operations.sort(key=lambda o: o.literal_weight)

    # -- compilation -------------------------------------------------------------------------
    def resolve(self, node: Any) -> Any:
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            assert ref.startswith("#/"), ref
            target: Any = self.doc
            for part in ref[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
        return node

    def _compile(self, raw_path: str, method: str, item: dict[str, Any]) -> Operation:
        spec = item[method]
        path, _, discr = raw_path.partition("?")
        discriminators = [d.split("=")[0] for d in discr.split("&") if d]
        params: dict[str, dict[str, Any]] = {}
        for p in [*item.get("parameters", []), *spec.get("parameters", [])]:
            p = self.resolve(p)
            params[(p["in"] + ":" + p["name"])] = p
        body_schema, body_required, content_types = None, False, []
        if self.is_openapi3 and "requestBody" in spec:
            rb = self.resolve(spec["requestBody"])
            content_types = list(rb.get("content", {}))
            body_required = bool(rb.get("required"))
            js = rb.get("content", {}).get("application/json")
            body_schema = js.get("schema") if js else None
        for p in list(params.values()):
            if p["in"] == "body":
                body_schema, body_required = p.get("schema"), bool(p.get("required"))
                content_types = spec.get("consumes") or self.doc.get("consumes") or ["application/json"]
        if any(p["in"] == "formData" for p in params.values()):
            content_types = spec.get("consumes") or ["multipart/form-data"]
        regex_parts, literal_chars, n_params, groups = [], 0, 0, {}
        for piece in re.split(r"(\{[^}]+\})", self.base_path + path):
            if piece.startswith("{") and piece.endswith("}"):
                name = piece[1:-1]
                p = params.get("path:" + name, {})
                multi = p.get("x-multi-segment")
                groups[f"p{n_params}"] = name
                regex_parts.append(f"(?P<p{n_params}>{'.+' if multi else '[^/]+'})")
                n_params += 1
            else:
                regex_parts.append(re.escape(piece))
                literal_chars += len(piece)
        flags = re.IGNORECASE if self.case_insensitive else 0
        regex = re.compile("^" + "".join(regex_parts) + "/?$", flags)
        servers = [s["url"] for s in spec.get("servers", [])]
        op_id = spec.get("operationId") or f"{method.upper()} {raw_path}"
        return Operation(
            op_id,
            method.upper(),
            raw_path,
            regex,
            (n_params, -literal_chars, -len(discriminators)),
            params,
            body_schema,
            body_required,
            content_types,
            discriminators,
            servers,
            groups,
            spec,
        )

    # -- matching ----------------------------------------------------------------------------
    def match_path(self, method: str, path: str, query: dict[str, str]) -> Match:
        """Return the operation for method+path+query, or raise ContractViolation (404/405/400)."""
        path_hits: list[tuple[Operation, dict[str, str]]] = []
        for op in self.operations:
            m = op.regex.match(path)
            if m:
                path_hits.append((op, {op.groups[k]: v for k, v in m.groupdict().items()}))
        if not path_hits:
            raise ContractViolation(404, f"no operation in {self.filename} matches path {path}")
        same_method = [(op, pp) for op, pp in path_hits if op.method == method.upper()]
        if not same_method:
            allowed = sorted({op.method for op, _ in path_hits})
            raise ContractViolation(
                405,
                f"{method} is not an operation of {path_hits[0][0].template} (allowed: {', '.join(allowed)})",
            )
        # Keep the most specific template; then choose by x-ms-paths query discriminators.
        best = same_method[0][0].literal_weight[:2]
        same_method = [h for h in same_method if h[0].literal_weight[:2] == best]
        lower_q = {k.lower() for k in query}
        usable = [h for h in same_method if all(d.lower() in lower_q for d in h[0].discriminators)]
        if usable:
            usable.sort(key=lambda h: (-len(h[0].discriminators), self._missing_required(h[0], query)))
            op, pp = usable[0]
        else:
            op, pp = same_method[0]
        return Match(op, pp)

    def _missing_required(self, op: Operation, query: dict[str, str]) -> int:
        lower_q = {k.lower() for k in query}
        return sum(1 for p in op.query_params() if p.get("required") and p["name"].lower() not in lower_q)

    def check_params(self, match: Match, query: dict[str, str], *, implicit: frozenset[str] = frozenset()) -> None:
        """Check path parameter types and query parameters (required, type, enum)."""
        op = match.operation
        for name, value in match.path_params.items():
            p = op.path_params().get(name, {})
            _check_scalar(op, "path parameter", name, value, p)
        lower_q = {k.lower(): v for k, v in query.items()}
        for p in op.query_params():
            name = p["name"]
            if name.lower() not in lower_q:
                if p.get("required") and name.lower() not in implicit:
                    raise ContractViolation(
                        400,
                        f"{op.operation_id}: required query parameter {name!r} is missing",
                        op.operation_id,
                    )
                continue
            _check_scalar(op, "query parameter", name, lower_q[name.lower()], p)

    # -- bodies ------------------------------------------------------------------------------
    def _root_schema(self) -> dict[str, Any]:
        if self._root is None:
            root = {
                "definitions": self.doc.get("definitions", {}),
                "components": self.doc.get("components", {}),
            }
            self._root = _nullable_to_jsonschema(root) if self.is_openapi3 else copy.deepcopy(root)
        return self._root

    @functools.cache  # noqa: B019 - contracts are module-level singletons
    def validator(self, operation_id: str) -> jsonschema.Draft4Validator | None:
        op = self.by_id[operation_id]
        if op.body_schema is None:
            return None
        schema = _nullable_to_jsonschema(op.body_schema) if self.is_openapi3 else op.body_schema
        return jsonschema.Draft4Validator({**self._root_schema(), "allOf": [schema]})

    def check_body(self, match: Match, body: Any, *, present: bool, case_insensitive_props: bool = False) -> Any:
        """Validate a parsed JSON body; returns it (with property names canonicalised if asked)."""
        op = match.operation
        if not present:
            if op.body_required:
                raise ContractViolation(400, f"{op.operation_id}: a request body is required", op.operation_id)
            return None
        if case_insensitive_props and op.body_schema is not None:
            body = self.canonicalise(body, op.body_schema)
        validator = self.validator(op.operation_id)
        if validator is not None:
            errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
            if errors:
                e = errors[0]
                where = "/".join(str(x) for x in e.absolute_path) or "(body)"
                raise ContractViolation(
                    400 if e.validator != "required" else 422,
                    f"{op.operation_id}: body {where}: {e.message}",
                    op.operation_id,
                )
        return body

    def canonicalise(self, value: Any, schema: Any, depth: int = 0) -> Any:
        """Rename JSON properties to the schema's spelling, ignoring case (Octopus binds them so)."""
        schema = self.resolve(schema)
        if depth > 30 or not isinstance(schema, dict):
            return value
        if isinstance(value, dict):
            props = schema.get("properties") or {}
            lower = {k.lower(): k for k in props}
            out = {}
            for k, v in value.items():
                canon = lower.get(k.lower(), k)
                sub = props.get(canon) or (
                    schema.get("additionalProperties") if isinstance(schema.get("additionalProperties"), dict) else None
                )
                out[canon] = self.canonicalise(v, sub, depth + 1) if sub else v
            return out
        if isinstance(value, list) and isinstance(schema.get("items"), dict):
            return [self.canonicalise(v, schema["items"], depth + 1) for v in value]
        return value

    def example(self, operation_id: str, status: str = "200") -> Any:
        """The first example response body of an operation, deep-copied (OpenAPI 3 and Azure)."""
        op = self.by_id[operation_id]
        resp = self.resolve(op.spec["responses"][status])
        if self.is_openapi3:
            media = resp.get("content", {}).get("application/json", {})
            examples = media.get("examples") or {}
            for ex in examples.values():
                return copy.deepcopy(self.resolve(ex).get("value"))
            return copy.deepcopy(media.get("example"))
        for ex in (op.spec.get("x-ms-examples") or {}).values():
            body = (ex.get("responses", {}).get(status) or {}).get("body")
            if body is not None:
                return copy.deepcopy(body)
        return None

    def response_validator(self, operation_id: str, status: str) -> Any:
        """A validator for an operation's response schema, with the services' documented wire quirks.

        * Azure DevOps wraps every list in ``{"count", "value"}`` (the descriptions describe
          the bare array), and its official examples spell flag enums in PascalCase
          (``PhaseFailed``) where the schema says ``phaseFailed``: enums compare without case.
        * Swagger 2.0 has no ``nullable``; Octopus answers ``null`` for unset strings.
        """
        resp = self.resolve(self.by_id[operation_id].spec["responses"].get(status, {}))
        schema = (
            resp.get("content", {}).get("application/json", {}).get("schema")
            if self.is_openapi3
            else resp.get("schema")
        )
        if schema is None:
            return None
        if self.is_openapi3:
            schema = _nullable_to_jsonschema(schema)
            return jsonschema.Draft4Validator({**self._root_schema(), "allOf": [schema]})
        resolved = self.resolve(schema)
        if resolved.get("type") == "array":  # Azure: {"count": N, "value": [...]}
            schema = {"anyOf": [schema, {"type": "object", "properties": {"value": schema}, "required": ["value"]}]}
        return _LenientSwagger2({**self._root_schema(), "allOf": [schema]})


def _enum_without_case(validator: Any, enums: Any, instance: Any, schema: Any) -> Any:
    if instance is None:
        return
    if isinstance(instance, str) and instance.lower() in {str(e).lower() for e in enums}:
        return
    if instance not in enums:
        yield jsonschema.ValidationError(f"{instance!r} is not one of {enums!r}")


def _type_or_null(validator: Any, types: Any, instance: Any, schema: Any) -> Any:
    if instance is None:
        return
    yield from jsonschema._keywords.type(validator, types, instance, schema)


_LenientSwagger2 = jsonschema.validators.extend(
    jsonschema.Draft4Validator, {"enum": _enum_without_case, "type": _type_or_null}
)


def _check_scalar(op: Operation, kind: str, name: str, value: str, p: dict[str, Any]) -> None:
    schema = p.get("schema", p)
    t = schema.get("type")
    ok = True
    if t == "integer":
        ok = re.fullmatch(r"-?\d+", value) is not None
    elif t == "number":
        ok = re.fullmatch(r"-?\d+(\.\d+)?", value) is not None
    elif t == "boolean":
        ok = value.lower() in ("true", "false")
    if ok and "enum" in schema and t == "string":
        ok = value in schema["enum"] or value.lower() in {str(e).lower() for e in schema["enum"]}
    if not ok:
        raise ContractViolation(
            400,
            f"{op.operation_id}: {kind} {name}={value!r} is not a valid {t}"
            + (f" (enum {schema.get('enum')})" if "enum" in schema else ""),
            op.operation_id,
        )


@functools.cache
def load(filename: str, case_insensitive: bool = False, host_tag: str | None = None) -> Contract:
    """Load (once per process) and compile a contract from tests/contracts/."""
    return Contract(filename, case_insensitive=case_insensitive, host_tag=host_tag)
