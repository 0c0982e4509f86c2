"""Events go through the plugin manager (traced, isolated per plugin); duplicate names name both plugins."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pluggy
import pytest

from tests.conftest import Project
from trainmaster import hookspecs
from trainmaster.errors import PluginError
from trainmaster.hookspecs import hookimpl
from trainmaster.plugins import build_registry


@pytest.fixture
def hook_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A loopback webhook receiver: its URL (carrying a token) and the events it received."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            received.append(json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0")))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/hook?token=hook-tok-5511", received
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_trace_shows_the_event_hooks_of_a_real_deploy(project: Project,
                                                      hook_server: tuple[str, list[dict[str, Any]]]) -> None:
    """The webhook notifier resolves its secret URL from the event's arguments, registering nothing again."""
    url, received = hook_server
    config = (project.root / "trainmaster.yaml").read_text()
    project.write("trainmaster.yaml", config + "notify:\n  - webhook: {secret: env:HOOK_URL}\n")
    project.env["HOOK_URL"] = url
    project.ok("release", "create", "1.0.0")
    received.clear()

    result = project.ok("deploy", "1.0.0", "--to", "dev", env={"TRAINMASTER_TRACE_PLUGINS": "1"})

    args = "(deployment, release, environment, config, secret_resolvers)"
    for event in ("deployment_started", "deployment_finished"):
        assert f"[trace] {event}{args} -> ['trainmaster.builtin.webhook']" in result.stderr
        assert f"[trace] {event} returned []" in result.stderr
    assert [e["event"] for e in received] == ["deployment_started", "deployment_finished"]
    assert result.stderr.count("[trace] register_secret_resolvers(") == 1, "registration ran again"
    assert "hook-tok-5511" not in result.stderr + result.stdout


def _plugin(hook: str, name: str) -> object:
    class Plugin:
        pass

    def register_all(register: Callable[[str, Any], None]) -> None:
        register(name, object())

    register_all.__name__ = hook
    setattr(Plugin, hook, staticmethod(hookimpl(register_all)))
    return Plugin()


@pytest.mark.parametrize(("hook", "kind"), [("register_targets", "target"), ("register_ledgers", "ledger"),
                                            ("register_publishers", "publisher")])
def test_a_name_registered_twice_names_both_plugins(hook: str, kind: str) -> None:
    pm = pluggy.PluginManager("trainmaster")
    pm.add_hookspecs(hookspecs)
    pm.register(_plugin(hook, "shared"), name="acme-deploy")
    pm.register(_plugin(hook, "other"), name="innocent")
    pm.register(_plugin(hook, "shared"), name="contoso-deploy")
    with pytest.raises(PluginError) as info:
        build_registry(pm)
    assert str(info.value) == f"plugins 'contoso-deploy' and 'acme-deploy' both register the {kind} 'shared'"
    assert info.value.exit_code == 2


def test_a_plugin_clashing_with_a_built_in_is_named(project: Project) -> None:
    """Through the real CLI: the built-in ``local`` target and a plugin's ``local`` are both named, exit 2."""
    project.write("clash.py", """\
        from trainmaster import hookimpl

        @hookimpl
        def register_targets(register):
            register("local", object)
    """)
    project.write("clash.dist-info/entry_points.txt", "[trainmaster]\nclash = clash\n")
    before = project.snapshot()
    result = project.run("validate", env={"PYTHONPATH": str(project.root), "TRAINMASTER_LOAD_PLUGINS": "clash"})
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == ("error: plugins 'clash' and 'trainmaster.builtin.local' both register "
                                     "the target 'local'")
    assert project.snapshot() == before
