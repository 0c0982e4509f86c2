"""A secret value never appears in any output, log, ledger, store or webhook the run wrote."""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path

from tests.support.project import SECRET, Project

LEAKY_DEPLOY = """\
set -eu
mkdir -p "$DEST/$TRAINMASTER_ENVIRONMENT"
cp "$TRAINMASTER_PACKAGE_APP" "$DEST/$TRAINMASTER_ENVIRONMENT/app.bin"
if [ -n "${DB_PASSWORD:-}" ]; then
  echo "whole: $DB_PASSWORD"
  half=$(printf %s "$DB_PASSWORD" | cut -c1-8)
  rest=$(printf %s "$DB_PASSWORD" | cut -c9-)
  printf 'split: %s' "$half"; sleep 0.3; printf '%s\\n' "$rest"
  echo "stderr: $DB_PASSWORD" >&2
  printf '%s\\n' "$DB_PASSWORD" > "$DEST/db.secret"
fi
"""


class _Collector(http.server.BaseHTTPRequestHandler):
    bodies: list[bytes] = []

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length", 0))
        _Collector.bodies.append(self.rfile.read(length))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


def test_secret_never_leaks(project: Project, tmp_path: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook?token=hook-token-123"
        config = (project.root / "trainmaster.yaml").read_text()
        project.write("trainmaster.yaml", config + "notify:\n  - webhook: {secret: env:HOOK_URL}\n")
        project.env["HOOK_URL"] = url  # webhook URLs carry tokens: the URL itself is a secret
        project.write("deploy.sh", LEAKY_DEPLOY)
        outputs = []
        for args in (("release", "create", "1.0.0"), ("deploy", "1.0.0", "--to", "dev"),
                     ("promote", "--from", "dev", "--to", "test"),
                     ("approve", "1.0.0", "--env", "prod", "--by", "alice"),
                     ("deploy", "1.0.0", "--to", "prod"), ("deploy", "1.0.0", "--to", "prod", "--force", "--json"),
                     ("status", "--json"), ("history", "--json"), ("release", "show", "1.0.0", "--json"),
                     ("audit", "verify")):
            result = project.ok(*args)
            outputs += [result.stdout, result.stderr]
    finally:
        server.shutdown()
    everything = "\n".join(outputs)
    assert "whole: ***" in everything and "split: ***" in everything and "stderr: ***" in everything
    assert SECRET not in everything and "hook-token-123" not in everything
    assert SECRET[:8] + "\n" not in everything  # not even the first half before the pause
    assert (project.root.parent / "servers" / "db.secret").read_text().strip() == SECRET  # it did reach the app
    assert _Collector.bodies, "no webhook was delivered"
    assert all(SECRET.encode() not in body for body in _Collector.bodies)
    events = [json.loads(b)["event"] for b in _Collector.bodies]
    assert {"release_created", "deployment_started", "deployment_finished", "approval_recorded"} <= set(events)
    for path in project.root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert SECRET.encode() not in data and b"hook-token-123" not in data, f"secret written to {path}"
