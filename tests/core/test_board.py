"""``trainmaster board``: one self-contained HTML page, checked in a real headless Chromium.

Chromium is Debian's ``chromium`` (``.ci/run`` installs it); Playwright drives it through
``executable_path`` and never downloads a browser. A missing Chromium fails these tests.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.project import Project

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CREATOR = "<script>window.pwned=1</script>"
APPROVER = '<img src=x onerror="window.pwned=2">'


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    assert CHROMIUM.exists() or shutil.which("chromium"), (
        "Chromium is not installed: `apt-get install -y chromium` (bash .ci/run does it when run as root)")
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")),
            headless=True, args=FLAGS)
        try:
            yield context
        finally:
            context.close()


def open_page(context: Any, path: Path, width: int) -> tuple[Any, list[str], list[str]]:
    """The page at ``width`` pixels, with the console errors and the network requests it made."""
    page = context.new_page()
    page.set_viewport_size({"width": width, "height": 900})
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda req: requests.append(req.url))
    page.goto(path.as_uri(), wait_until="load")
    return page, errors, requests


def seed(project: Project) -> None:
    """1.0.0 through dev, test, prod; 1.1.0 fails in dev (rolled back); 1.2.0 in dev and test, waiting for prod."""
    hostile = {"LOGNAME": CREATOR, "USER": CREATOR}
    project.write("smoke.sh", 'grep -q healthy "$DEST/$TRAINMASTER_ENVIRONMENT/app.bin" || '
                              '{ echo "smoke: the app is not healthy"; exit 1; }\n')
    project.ok("release", "create", "1.0.0", env=hostile)
    project.ok("deploy", "1.0.0", "--to", "dev", env=hostile)
    project.ok("promote", "--from", "dev", "--to", "test", env=hostile)
    project.ok("approve", "1.0.0", "--env", "prod", "--by", APPROVER, "--comment", "<b>CHG-1</b>", env=hostile)
    project.ok("promote", "--from", "test", "--to", "prod", env=hostile)
    project.build("broken")
    project.ok("release", "create", "1.1.0", env=hostile)
    assert project.run("deploy", "1.1.0", "--to", "dev", env=hostile).returncode == 1
    project.build("healthy again")
    project.ok("release", "create", "1.2.0", env=hostile)
    project.ok("deploy", "1.2.0", "--to", "dev", env=hostile)
    project.ok("promote", "--from", "dev", "--to", "test", env=hostile)
    project.ok("reject", "1.2.0", "--env", "prod", "--by", "release-manager", "--comment", "not on a Friday")


MATRIX = """() => Object.fromEntries([...document.querySelectorAll('#matrix td[data-env]')].map(
    td => [td.dataset.release + ' ' + td.dataset.env, td.dataset.state + ': ' + td.innerText.trim()]))"""
OVERFLOW = """() => [document.documentElement.scrollWidth, document.documentElement.clientWidth,
    document.body.scrollWidth, document.body.clientWidth]"""
ENV_BOXES = """() => [...document.querySelectorAll('svg.train g.env')].filter(g => g.getBoundingClientRect().width > 0)
    .map(g => [g.querySelector('text').textContent, g.getBoundingClientRect().x, g.getBoundingClientRect().y])"""
TRAIN_LINES = """() => [...document.querySelectorAll('svg.wide g.env text')].map(t => [t.textContent])"""
VISIBLE_TRAIN_TEXT = """() => [...document.querySelectorAll('svg.train')]
    .filter(s => s.getBoundingClientRect().width > 0)
    .flatMap(s => [...s.querySelectorAll('text')]).filter(t => t.textContent)
    .map(t => [t.textContent, t.getBoundingClientRect().height])"""


def test_board_shows_the_train_in_a_real_browser(project: Project, browser: Any, tmp_path: Path) -> None:
    seed(project)
    out = tmp_path / "site"
    result = project.ok("board", "--out", str(out), "--json")
    assert json.loads(result.stdout)["board"] == str(out / "index.html")
    page_file = out / "index.html"
    text = page_file.read_text(encoding="utf-8")
    assert "<script" not in text.replace("&lt;script", "")  # the hostile actor is text, never markup
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in text

    page, errors, requests = open_page(browser, page_file, 1280)
    assert errors == []
    assert requests == [page_file.as_uri()]  # nothing fetched: no script, font, image or style from elsewhere
    assert page.evaluate("() => [window.pwned, document.scripts.length]") == [None, 0]
    cells = page.evaluate(MATRIX)
    assert {k: v.split(":")[0] for k, v in cells.items()} == {
        "1.2.0 dev": "live", "1.2.0 test": "live", "1.2.0 prod": "waiting",
        "1.1.0 dev": "failed", "1.1.0 test": "none", "1.1.0 prod": "none",
        "1.0.0 dev": "deployed", "1.0.0 test": "deployed", "1.0.0 prod": "live",
    }
    assert "rolled back to 1.0.0" in cells["1.1.0 dev"]
    assert "needs 1 approval" in cells["1.2.0 prod"]
    approvals = page.inner_text("#approvals")
    assert "1.2.0" in approvals and "0 of 1 (rejected by release-manager" in approvals
    assert "not on a Friday" in approvals
    assert f"anyone except {CREATOR}" in approvals
    deployments = page.inner_text("#deployments")
    assert "rollback" in deployments and "failed" in deployments and CREATOR in deployments
    reasons = page.evaluate("() => [...document.querySelectorAll('#deployments .why')].map(e => e.innerText)")
    assert len(reasons) == 1 and reasons[0].strip()  # the failure's reason, next to its outcome
    assert "audit verify --expect-head" in page.inner_text("#audit")
    assert CREATOR in page.inner_text("#audit")  # the actor of the newest events, shown as the text it is
    wide = page.evaluate(OVERFLOW)
    assert wide[0] <= wide[1] and wide[2] <= wide[3]
    assert all(height >= 10 for _, height in page.evaluate(VISIBLE_TRAIN_TEXT))
    boxes = page.evaluate(ENV_BOXES)
    assert [b[0] for b in boxes] == ["dev", "test", "prod"] and boxes[0][1] < boxes[1][1] < boxes[2][1]  # a row
    page.screenshot(path=str(tmp_path / "board-1280.png"), full_page=True)

    phone, errors, _ = open_page(browser, page_file, 390)
    assert errors == []
    narrow = phone.evaluate(OVERFLOW)
    assert narrow[0] <= narrow[1] and narrow[2] <= narrow[3], f"horizontal overflow at 390px: {narrow}"
    train = phone.evaluate(VISIBLE_TRAIN_TEXT)
    boxes = phone.evaluate(ENV_BOXES)
    assert [b[0] for b in boxes] == ["dev", "test", "prod"] and boxes[0][2] < boxes[1][2] < boxes[2][2]  # a column
    assert all(height >= 10 for _, height in train), train  # the diagram is not shrunk to illegible
    assert phone.evaluate(MATRIX) == cells
    phone.screenshot(path=str(tmp_path / "board-390.png"), full_page=True)
    assert (tmp_path / "board-1280.png").stat().st_size > 10_000 and (tmp_path / "board-390.png").stat().st_size


def test_board_of_an_empty_ledger_and_a_bad_folder(project: Project, browser: Any, tmp_path: Path) -> None:
    out = tmp_path / "empty"
    project.ok("board", "--out", str(out))
    page, errors, _ = open_page(browser, out / "index.html", 390)
    assert errors == []
    assert "no releases yet" in page.inner_text("#releases")
    assert "no deployments yet" in page.inner_text("#deployments")
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    before = project.snapshot()
    failed = project.run("board", "--out", str(blocker))
    assert failed.returncode == 2 and "Traceback" not in failed.stderr and "is a file" in failed.stderr
    assert project.snapshot() == before


def test_quick_start_writes_a_board_then_ends_with_status(browser: Any, tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.support.project import base_env

    script = Path(__file__).resolve().parents[2] / "examples" / "quickstart" / "run.sh"
    env = dict(base_env(tmp_path), TMPDIR=str(tmp_path), TRAINMASTER=f"{sys.executable} -m trainmaster")
    run = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert out.index("board written to") < out.rindex("ENVIRONMENT")  # the last command is `status`
    assert "dev: 1.1.0 failed" in out[out.rindex("ENVIRONMENT"):]  # status: the rolled-back failure
    board = Path(out.rsplit("(board: ", 1)[1].split(")")[0])
    page, errors, _ = open_page(browser, board, 1280)
    assert errors == []
    cells = page.evaluate(MATRIX)
    assert cells["1.1.0 dev"].startswith("failed") and "rolled back to 1.0.0" in cells["1.1.0 dev"]
    assert [cells[f"1.0.0 {env}"].split(":")[0] for env in ("dev", "test", "prod")] == ["live"] * 3
    assert "1.1.0 failed, rolled back" in [b[0] for b in page.evaluate(TRAIN_LINES)]
    page.screenshot(path=str(tmp_path / "quickstart-board.png"), full_page=True)


REMOTE_CONFIG = """\
project: demo
packages:
  app: build/app.bin
ledger: github
github:
  repository: acme/app
defaults:
  deploy: sh deploy.sh
train:
  - name: dev
  - name: test
  - name: prod
    approvals: 1
"""


def test_board_from_a_remote_ledger_escapes_what_it_reads(bare_project: Project, github_fake: Any,
                                                          browser: Any, tmp_path: Path) -> None:
    """With ``ledger: github`` what is where comes from GitHub Deployments, recorded by other runners
    (this runner's local ledger is empty); a hostile version or actor there is shown as text."""
    import requests

    api = f"{github_fake.url}/repos/acme/app"
    auth = {"Authorization": f"Bearer {github_fake.token}", "Accept": "application/vnd.github+json"}
    hostile_version = "<script>window.pwned=3</script>"

    def deployed(version: str, rid: str, env: str, state: str, actor: str) -> None:
        meta = {"project": "demo", "release_id": rid, "version": version, "environment": env, "kind": "deploy",
                "actor": actor, "deployment_id": 1}
        made = requests.post(f"{api}/deployments", headers=auth, timeout=10, json={
            "ref": f"v{version}", "environment": env, "auto_merge": False, "required_contexts": [],
            "payload": {"trainmaster": meta}})
        assert made.status_code == 201, made.text
        requests.post(f"{api}/deployments/{made.json()['id']}/statuses", headers=auth, timeout=10,
                      json={"state": state}).raise_for_status()

    deployed("1.0.0", "sha256:" + "a" * 64, "dev", "success", "alice")
    deployed("1.0.0", "sha256:" + "a" * 64, "test", "success", "alice")
    deployed(hostile_version, "sha256:" + "b" * 64, "dev", "failure", APPROVER)
    bare_project.write("trainmaster.yaml", REMOTE_CONFIG)
    env = {"GITHUB_TOKEN": github_fake.token, "GITHUB_API_URL": github_fake.url, "GITHUB_REPOSITORY": "acme/app",
           "TRAINMASTER_LOAD_PLUGINS": "github"}
    out = tmp_path / "site"
    bare_project.ok("board", "--out", str(out), env=env)
    page, errors, requests_made = open_page(browser, out / "index.html", 390)
    assert errors == [] and len(requests_made) == 1
    assert page.evaluate("() => [window.pwned, document.scripts.length]") == [None, 0]
    cells = {k: v.split(":")[0] for k, v in page.evaluate(MATRIX).items()}
    assert cells == {
        f"{hostile_version} dev": "failed", f"{hostile_version} test": "none", f"{hostile_version} prod": "none",
        "1.0.0 dev": "deployed", "1.0.0 test": "live", "1.0.0 prod": "none",
    }
    assert APPROVER in page.inner_text("#deployments") and hostile_version in page.inner_text("#deployments")
    narrow = page.evaluate(OVERFLOW)
    assert narrow[0] <= narrow[1] and narrow[2] <= narrow[3]
    page.screenshot(path=str(tmp_path / "board-remote-390.png"), full_page=True)
