"""docs/plugins.md keeps up with the hooks (the datasette meta-tests).

* every hookspec has a heading with its exact signature, ``### name(arg, ...)``;
* no heading documents a hook that does not exist;
* every hook has a ``test_hook_<name>`` test somewhere under ``tests/``;
* every protocol of :mod:`trainmaster.interfaces` a plugin implements has a section
  naming each of its methods, and the Python examples in the page are valid code.
"""

from __future__ import annotations

import ast
import functools
import inspect
import re
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from trainmaster import hookspecs, interfaces

# the register_targets example below registers a plugin: give it a fresh plugin manager
from tests.support.plugins import fresh_plugin_manager  # noqa: F401  isort: skip

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "plugins.md"
TESTS = ROOT / "tests"
HEADING = re.compile(r"^#{2,4} +(\w+)\(([^)]*)\)\s*$", re.MULTILINE)
PROTOCOLS = ("Target", "RemoteLedger", "Publisher", "CIContext", "DeployJob", "DeployOutcome", "RunbookJob")


def hook_specs(module: types.ModuleType = hookspecs) -> dict[str, Callable[..., Any]]:
    """The hook specifications of ``module``: functions marked with the ``trainmaster`` hookspec marker."""
    return {name: fn for name, fn in inspect.getmembers(module, inspect.isfunction)
            if hasattr(fn, "trainmaster_spec")}


def signature(fn: Callable[..., Any]) -> str:
    """``name(arg, ...)``: the heading that documents ``fn``."""
    return f"{fn.__name__}({', '.join(inspect.signature(fn).parameters)})"


def documented_signatures(markdown: str) -> set[str]:
    return {f"{name}({', '.join(a.strip() for a in args.split(',') if a.strip())})"
            for name, args in HEADING.findall(markdown)}


@functools.cache
def hook_tests(root: Path = TESTS) -> set[str]:
    """Names of test functions ``test_hook_*`` defined (at any depth) in the test files under ``root``."""
    found = set()
    for path in sorted(root.rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            is_function = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            if is_function and node.name.startswith("test_hook_"):
                found.add(node.name)
    return found


def python_blocks(markdown: str) -> Iterator[tuple[int, str]]:
    for match in re.finditer(r"^```python\n(.*?)^```", markdown, re.MULTILINE | re.DOTALL):
        yield markdown.count("\n", 0, match.start()) + 1, match.group(1)


SPECS = hook_specs()
DOC_TEXT = DOCS.read_text()


def test_hookspecs_are_found() -> None:
    """Guards the meta-tests below: an empty parametrization would pass vacuously."""
    assert len(SPECS) >= 11
    assert {"register_targets", "ci_context", "deployment_finished"} <= set(SPECS)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_plugin_hooks_are_documented(name: str) -> None:
    expected = signature(SPECS[name])
    assert expected in documented_signatures(DOC_TEXT), f"docs/plugins.md needs a heading '### {expected}'"


def test_no_documented_hook_is_unknown() -> None:
    hooks_like = {sig for sig in documented_signatures(DOC_TEXT) if sig.split("(")[0] in SPECS
                  or sig.startswith(("register_", "release_", "deployment_", "approval_", "ci_"))}
    assert hooks_like == {signature(fn) for fn in SPECS.values()}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_plugin_hooks_have_tests(name: str) -> None:
    assert f"test_hook_{name}" in hook_tests(), f"add a test_hook_{name} test under tests/"


def test_meta_checks_detect_gaps(tmp_path: Path) -> None:
    """The helpers report a missing heading, a wrong signature and a missing test."""
    module = types.ModuleType("fake_specs")

    @hookspecs.hookspec
    def on_thing(thing: Any, config: Any) -> None:
        """A fake hook."""

    module.on_thing = on_thing  # type: ignore[attr-defined]
    found = hook_specs(module)
    assert list(found) == ["on_thing"]
    assert signature(found["on_thing"]) == "on_thing(thing, config)"
    assert "on_thing(thing, config)" not in documented_signatures("### on_thing(thing)\n")
    assert "on_thing(thing, config)" in documented_signatures("### on_thing(thing, config)\n")
    (tmp_path / "test_x.py").write_text("def test_hook_other():\n    pass\n")
    assert hook_tests(tmp_path) == {"test_hook_other"}
    assert "test_hook_other" not in hook_tests()


@pytest.mark.parametrize("name", PROTOCOLS)
def test_protocols_are_documented(name: str) -> None:
    """Each protocol has a heading, and its section names every public method or field."""
    sections = re.split(r"^### ", DOC_TEXT, flags=re.MULTILINE)
    section = next((s for s in sections if s.split("\n", 1)[0].strip() == name), None)
    assert section is not None, f"docs/plugins.md needs a '### {name}' section"
    cls = getattr(interfaces, name)
    members = [m for m in vars(cls) if not m.startswith("_")]
    members += [f for f in getattr(cls, "__dataclass_fields__", {})]
    members += [a for a in getattr(cls, "__annotations__", {}) if not a.startswith("_")]
    missing = sorted({m for m in members if f"`{m}" not in section})
    assert not missing, f"the {name} section does not mention {missing}"


def test_python_examples_are_valid() -> None:
    blocks = list(python_blocks(DOC_TEXT))
    assert len(blocks) >= len(SPECS)
    for line, code in blocks:
        try:
            ast.parse(code)
        except SyntaxError as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"docs/plugins.md line {line + (exc.lineno or 0)}: {exc.msg}")


def test_register_targets_example_deploys(tmp_path: Path) -> None:
    """The ``echo`` target of the register_targets section works as printed, through the real CLI."""
    from tests.support.plugins import make_project, registered, run_cli

    section = DOC_TEXT.split("### register_targets(register)", 1)[1]
    code = next(code for _, code in python_blocks(section))
    module = types.ModuleType("docs_echo_target")
    exec(compile(code, "docs/plugins.md", "exec"), module.__dict__)
    config = make_project(tmp_path, config="project: demo\npackages: {app: app.bin}\ntrain:\n"
                                           "  - name: dev\n    target: echo\n")
    with registered(module, "docs-echo"):
        run_cli(config, "release", "create", "1.0.0")
        result = run_cli(config, "deploy", "1.0.0", "--to", "dev")
    assert result.code == 0, result.err
    assert "would deploy 1.0.0 to dev" in result.out
