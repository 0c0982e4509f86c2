"""``release create --notes-from-git``: notes from the commit subjects since the previous release (real git)."""

from __future__ import annotations

import json
import subprocess

from tests.support.gitrepo import git, in_ci, many_commits
from tests.support.project import Project
from trainmaster.notes_git import neutral, render

CONFIG = """\
project: demo
packages:
  app: app.bin
train:
  - name: dev
    deploy: "true"
"""


def _repo(p: Project) -> str:
    p.write("trainmaster.yaml", CONFIG)
    p.write(".gitignore", ".trainmaster/\n")
    p.write("app.bin", "one")
    git(p, "init", "-q")
    git(p, "add", ".")
    git(p, "commit", "-qm", "first")
    return git(p, "rev-parse", "HEAD")


def _notes(p: Project, version: str) -> str | None:
    return json.loads(p.ok("release", "show", version, "--json").stdout)["metadata"].get("notes")


def test_notes_list_the_commit_subjects_since_the_previous_release(bare_project: Project) -> None:
    p = bare_project
    first = _repo(p)
    p.ok("release", "create", "1.0.0", env=in_ci(first))
    p.write("app.bin", "two")
    git(p, "commit", "-qam", "Faster checkout <!channel> [x](https://evil.example)")
    git(p, "commit", "-q", "--allow-empty", "-m", "Tidy \x1b[31mred\u202eevil")
    second = git(p, "rev-parse", "HEAD")
    short = second[:7]
    p.ok("release", "create", "1.1.0", "--notes-from-git", env=in_ci(second))

    notes = _notes(p, "1.1.0")
    assert notes is not None
    lines = notes.splitlines()
    assert lines[:2] == ["Changes since 1.0.0:", ""]
    assert lines[2] == f"- Tidy \ufffd[31mred\ufffdevil ({short})"
    assert lines[3].startswith("- Faster checkout <!channel> [x](https://evil.example) (")
    assert len(lines) == 4

    # outside CI the repository's HEAD is this release's commit; the previous one is 1.1.0's
    p.write("app.bin", "three")
    git(p, "commit", "-qam", "Third")
    p.ok("release", "create", "1.2.0", "--notes-from-git")
    assert _notes(p, "1.2.0") == f"Changes since 1.1.0:\n\n- Third ({git(p, 'rev-parse', '--short=7', 'HEAD')})\n"


def test_notes_from_git_refused_without_what_it_needs_and_nothing_is_written(bare_project: Project) -> None:
    p = bare_project
    p.write("trainmaster.yaml", CONFIG)
    p.write("app.bin", "one")
    no_repo = p.run("release", "create", "1.0.0", "--notes-from-git")
    assert no_repo.returncode == 2 and "--notes-from-git: no git repository at" in no_repo.stderr
    assert "Traceback" not in no_repo.stderr

    _repo(p)
    no_previous = p.run("release", "create", "1.0.0", "--notes-from-git")
    assert no_previous.returncode == 2 and "no earlier release of demo carries a source commit" in no_previous.stderr
    both = p.run("release", "create", "1.0.0", "--notes-from-git", "--notes", "x")
    assert both.returncode == 2 and "one of --notes, --notes-file and --notes-from-git" in both.stderr
    assert json.loads(p.ok("release", "list", "--json").stdout)["releases"] == []

    p.ok("release", "create", "1.0.0", env=in_ci("0" * 40))  # a commit this repository does not have
    p.write("app.bin", "two")
    unknown = p.run("release", "create", "1.1.0", "--notes-from-git")
    assert unknown.returncode == 2 and "cannot list 000000000000.." in unknown.stderr
    assert [r["version"] for r in json.loads(p.ok("release", "list", "--json").stdout)["releases"]] == ["1.0.0"]


def test_render_caps_the_notes_and_counts_what_did_not_fit() -> None:
    lines = [f"{i:07x} {'long subject ' * 20}{i}" for i in range(500)]
    notes = render("1.0.0", lines, 64 * 1024)
    assert len(notes.encode("utf-8")) <= 64 * 1024
    kept = [line for line in notes.splitlines() if line.startswith("- long")]
    assert notes.rstrip("\n").endswith(f"- … and {500 - len(kept)} more commit(s)") and 200 < len(kept) < 500
    assert render("1.0.0", [], 1024) == "Changes since 1.0.0:\n\n- no commits\n"


def test_a_subject_is_neutralised() -> None:
    assert neutral("ok\x00\x07\x1b\u202e\u200b\tend") == "ok" + "\ufffd" * 6 + "end"


def test_a_commit_subject_that_is_not_utf8_still_gives_notes(bare_project: Project) -> None:
    p = bare_project
    first = _repo(p)
    p.ok("release", "create", "1.0.0", env=in_ci(first))
    p.write("app.bin", "two")
    env = dict(p.env, GIT_AUTHOR_NAME="a", GIT_AUTHOR_EMAIL="a@x", GIT_COMMITTER_NAME="a", GIT_COMMITTER_EMAIL="a@x")
    # a commit declaring an encoding git cannot convert: git log prints its bytes as they are (not UTF-8)
    subprocess.run(["git", "-c", "i18n.commitEncoding=x-unknown", "commit", "-qa", "-F", "-"], input=b"caf\xe9 \xff\n",
                   cwd=p.root, env=env, check=True)
    p.ok("release", "create", "1.1.0", "--notes-from-git")
    notes = _notes(p, "1.1.0")
    assert notes is not None and len(notes.splitlines()) == 3
    assert notes.splitlines()[2].startswith("- caf\ufffd \ufffd (")


def test_a_history_longer_than_git_is_asked_for_says_how_many_commits_are_left_out(bare_project: Project) -> None:
    p = bare_project
    first = _repo(p)
    p.ok("release", "create", "1.0.0", env=in_ci(first))
    last = many_commits(p, first, 520)
    p.write("app.bin", "two")
    p.ok("release", "create", "1.1.0", "--notes-from-git", env=in_ci(last))
    notes = _notes(p, "1.1.0")
    assert notes is not None
    lines = notes.splitlines()
    assert lines[2].startswith("- c519 (") and lines[-1] == "- … and 20 more commit(s)"
    assert len(lines) == 2 + 500 + 1


def test_a_config_in_a_folder_of_the_repository_gets_its_notes(bare_project: Project) -> None:
    """A monorepo: trainmaster.yaml lives in svc/, the repository's .git at its top."""
    p = bare_project
    p.write("svc/trainmaster.yaml", CONFIG)
    p.write("svc/app.bin", "one")
    p.write(".gitignore", ".trainmaster/\n")
    git(p, "init", "-q")
    git(p, "add", ".")
    git(p, "commit", "-qm", "first")
    first = git(p, "rev-parse", "HEAD")
    p.ok("--config", "svc/trainmaster.yaml", "release", "create", "1.0.0", env=in_ci(first))
    p.write("svc/app.bin", "two")
    git(p, "commit", "-qam", "svc: faster")
    second = git(p, "rev-parse", "HEAD")
    p.ok("--config", "svc/trainmaster.yaml", "release", "create", "1.1.0", "--notes-from-git", env=in_ci(second))
    shown = json.loads(p.ok("--config", "svc/trainmaster.yaml", "release", "show", "1.1.0", "--json").stdout)
    assert shown["metadata"]["notes"] == f"Changes since 1.0.0:\n\n- svc: faster ({second[:7]})\n"
