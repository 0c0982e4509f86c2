"""``release diff A B``: packages, metadata and the source commits between two releases."""

from __future__ import annotations

import json

from tests.support.gitrepo import git, in_ci, many_commits
from tests.support.project import Project

CONFIG = """\
project: demo
packages:
  app: app.bin
  docs: docs.txt
train:
  - name: dev
    deploy: "true"
"""


def _first_release(p: Project) -> str:
    """A git repository with the project, and release 1.0.0 created in CI from its first commit (returned)."""
    p.write("trainmaster.yaml", CONFIG)
    p.write(".gitignore", ".trainmaster/\n")
    p.write("app.bin", "one")
    p.write("docs.txt", "docs")
    git(p, "init", "-q")
    git(p, "add", ".")
    git(p, "commit", "-qm", "first")
    first = git(p, "rev-parse", "HEAD")
    p.ok("release", "create", "1.0.0", env=in_ci(first))
    return first


def test_diff_lists_packages_metadata_and_the_commits_between(bare_project: Project) -> None:
    p = bare_project
    first = _first_release(p)
    p.write("app.bin", "two, longer")
    git(p, "commit", "-qam", "faster app")
    p.write("docs.txt", "docs")
    git(p, "commit", "-q", "--allow-empty", "-m", "tidy")
    second = git(p, "rev-parse", "HEAD")
    p.ok("release", "create", "1.1.0", "--notes", "faster", env=in_ci(second))
    found = json.loads(p.ok("release", "diff", "1.0.0", "1.1.0", "--json").stdout)
    assert found["packages"]["added"] == [] and found["packages"]["removed"] == []
    (app,) = found["packages"]["changed"]
    assert app["name"] == "app" and app["changes"]["size"] == {"from": 3, "to": 11}
    assert app["changes"]["digest"]["from"] != app["changes"]["digest"]["to"]
    assert found["metadata"]["source.commit"] == {"from": first, "to": second}
    assert found["metadata"]["notes"] == {"from": None, "to": "faster"}
    assert [line.split(" ", 1)[1] for line in found["commits"]] == ["tidy", "faster app"]
    text = p.ok("release", "diff", "1.0.0", "1.1.0").stdout
    assert "~ package app size: 3 → 11" in text and "commits (2):" in text and "faster app" in text


def test_diff_without_commits_says_why_and_shows_added_and_removed_packages(bare_project: Project) -> None:
    p = bare_project
    p.write("trainmaster.yaml", CONFIG)
    p.write("app.bin", "one")
    p.write("docs.txt", "docs")
    p.ok("release", "create", "1.0.0")
    p.write("trainmaster.yaml", CONFIG.replace("  docs: docs.txt\n", "  web: web.zip\n"))
    p.write("web.zip", "zip")
    p.ok("release", "create", "2.0.0")
    found = json.loads(p.ok("release", "diff", "1.0.0", "2.0.0", "--json").stdout)
    assert [x["name"] for x in found["packages"]["added"]] == ["web"]
    assert [x["name"] for x in found["packages"]["removed"]] == ["docs"]
    assert found["packages"]["changed"] == []
    assert found["commits"] is None and "source commit" in found["commits_note"]
    unknown = p.run("release", "diff", "1.0.0", "9.9.9")
    assert unknown.returncode == 2 and "no release 9.9.9" in unknown.stderr


def test_diff_over_a_long_history_says_only_the_newest_commits_are_listed(bare_project: Project) -> None:
    p = bare_project
    first = _first_release(p)
    last = many_commits(p, first, 520)
    p.write("app.bin", "two")
    p.ok("release", "create", "1.1.0", env=in_ci(last))
    found = json.loads(p.ok("release", "diff", "1.0.0", "1.1.0", "--json").stdout)
    assert len(found["commits"]) == 500 and found["commits"][0].endswith(" c519")
    assert found["commits_note"] == "only the newest 500 commits are listed"
    assert "only the newest 500 commits are listed" in p.ok("release", "diff", "1.0.0", "1.1.0").stdout
