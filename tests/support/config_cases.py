"""Config test data shared by the loader, error and schema tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainmaster.config import load_config

SECRET = "hunter2"  # a secret-looking value that no error message may echo

DESIGN_EXAMPLE = """\
project: demo
packages:
  app: build/app.bin          # a path or a glob matching exactly one file, relative to this file
defaults:
  target: local
  deploy: sh deploy.sh        # run with the artefact paths and variables in its environment
  smoke: sh smoke.sh          # run after deploy; failure fails the deployment
  on_failure: rollback
  pass_env: [DEST]            # runner variables passed through to commands
train:
  - name: dev
    variables: {GREETING: hello-dev}
  - name: test
    variables: {GREETING: hello-test}
  - name: prod
    approvals: 1
    variables:
      GREETING: hello-prod
      DB_PASSWORD: {secret: env:PROD_DB_PASSWORD}
"""


PLUGINS = {
    "github": {
        "type": "object",
        "additionalProperties": False,
        "required": ["repository"],
        "properties": {
            "repository": {"type": "string", "pattern": "^[^/]+/[^/]+$"},
            "environment": {"type": "string"},
            "labels": {"type": "array", "items": {"$ref": "#/$defs/label"}},
        },
        "$defs": {"label": {"type": "string", "minLength": 1}},
    },
    "octopus": {"type": "object", "properties": {"space": {"type": "string"}}},
}


ENV = "project: p\ntrain:\n  - name: dev\n"  # an environment whose keys start at line 4, column 5


# (id, yaml, line, column, substrings the message must contain)
BAD: list[tuple[str, str, int, int, list[str]]] = [
    (
        "env-typo",
        "project: p\ntrain:\n  - name: prod\n    aproval: 1\n",
        4,
        5,
        ["unknown key 'aproval' in environment 'prod' — did you mean 'approvals'?"],
    ),
    (
        "top-typo",
        "project: p\ntrian: []\n",
        2,
        1,
        ["unknown key 'trian' at the top level", "did you mean 'train'?"],
    ),
    ("missing-project", "train: [{name: dev}]\n", 1, 1, ["missing required key 'project'"]),
    ("missing-train", "project: p\n", 1, 1, ["missing required key 'train'"]),
    ("empty-train", "project: p\ntrain: []\n", 2, 8, ["'train'", "expected a non-empty list"]),
    ("train-not-list", "project: p\ntrain: dev\n", 2, 8, ["expected a list, got a string"]),
    ("train-item-string", "project: p\ntrain: [dev]\n", 2, 9, ["train item 1", "expected an environment"]),
    (
        "bad-project-name",
        "project: my project\ntrain: [{name: dev}]\n",
        1,
        10,
        ["'project'", "expected a name made of letters, digits"],
    ),
    ("env-without-name", "project: p\ntrain:\n  - target: local\n", 3, 5, ["missing required key 'name'"]),
    (
        "bad-env-name",
        "project: p\ntrain:\n  - name: ../x\n",
        3,
        11,
        ["'name' of environment '../x'", "expected a name"],
    ),
    (
        "on-failure",
        ENV + "    on_failure: rollbak\n",
        4,
        17,
        ["'on_failure' of environment 'dev'", "expected one of rollback, stop", "did you mean 'rollback'?"],
    ),
    ("concurrency", ENV + "    concurrency: queue\n", 4, 18, ["expected one of wait, refuse"]),
    (
        "duration-text",
        ENV + "    timeout: 5 minutes\n",
        4,
        14,
        ["'timeout' of environment 'dev'", "expected a duration", "90s, 30m, 2h, 1d or 1h30m"],
    ),
    ("duration-list", ENV + "    soak: [1]\n", 4, 11, ["expected a duration", "got a list"]),
    ("duration-negative", ENV + "    soak: -5\n", 4, 11, ["expected a duration"]),
    ("timeout-zero", ENV + "    timeout: 0\n", 4, 14, ["greater than zero"]),
    (
        "monitor-missing-for",
        ENV + "    monitor: {command: ./c, every: 10s}\n",
        4,
        14,
        ["missing required key 'for' in 'monitor' of environment 'dev'"],
    ),
    (
        "monitor-typo",
        ENV + "    monitor: {command: ./c, every: 10s, for: 1m, evry: 1}\n",
        4,
        50,
        ["unknown key 'evry' in 'monitor' of environment 'dev'", "did you mean 'every'?"],
    ),
    (
        "monitor-every-zero",
        ENV + "    monitor: {command: ./c, every: 0, for: 1m}\n",
        4,
        36,
        ["greater than zero"],
    ),
    (
        "approvals-negative",
        ENV + "    approvals: -1\n",
        4,
        16,
        ["expected a count (an integer >= 0)", "got -1"],
    ),
    ("approvals-text", ENV + "    approvals: two\n", 4, 16, ["expected a count"]),
    (
        "approvals-typo",
        ENV + "    approvals: {count: 1, form: [a]}\n",
        4,
        27,
        ["unknown key 'form' in 'approvals' of environment 'dev'", "did you mean 'from'?"],
    ),
    (
        "self-approval",
        ENV + "    allow_self_approval: yes please\n",
        4,
        26,
        ["expected true or false, got a string"],
    ),
    ("weekday", ENV + "    windows: [{days: [mon, funday]}]\n", 4, 28, ["expected a weekday: mon, tue"]),
    (
        "day-range",
        ENV + "    windows: [{days: mon-funday}]\n",
        4,
        22,
        ["expected a list of weekdays (mon..sun) or a range"],
    ),
    ("hours-form", ENV + "    windows: [{hours: 9-17}]\n", 4, 23, ["expected hours as HH:MM-HH:MM"]),
    ("hours-order", ENV + "    windows: [{hours: '17:00-09:00'}]\n", 4, 23, ["must be after its start"]),
    (
        "timezone",
        ENV + "    windows: [{timezone: Mars/Olympus}]\n",
        4,
        26,
        ["unknown time zone 'Mars/Olympus'", "expected an IANA name"],
    ),
    (
        "window-typo",
        ENV + "    windows: [{day: mon}]\n",
        4,
        16,
        ["unknown key 'day'", "did you mean 'days'?"],
    ),
    (
        "freeze-order",
        ENV + "    freeze: [{from: 2024-12-20T00:00:00Z, to: 2024-12-19T00:00:00Z}]\n",
        4,
        47,
        ["'to' must be after 'from'"],
    ),
    (
        "freeze-date",
        ENV + "    freeze: [{from: next tuesday, to: 2024-12-19}]\n",
        4,
        21,
        ["expected an ISO 8601 date-time"],
    ),
    ("freeze-missing-to", ENV + "    freeze: [{from: 2024-12-19}]\n", 4, 14, ["missing required key 'to'"]),
    (
        "literal-secret",
        ENV + f"    variables:\n      DB_PASSWORD: {SECRET}\n",
        5,
        20,
        ["'DB_PASSWORD' looks like a secret but has a literal value; use {secret: env:NAME}"],
    ),
    (
        "literal-secret-number",
        ENV + "    variables: {api_token: 12345}\n",
        4,
        28,
        ["'api_token' looks like a secret", "env:NAME"],
    ),
    (
        "literal-secret-top",
        f"variables: {{GITHUB_TOKEN: {SECRET}}}\n" + ENV,
        1,
        27,
        ["'GITHUB_TOKEN' looks like a secret"],
    ),
    (
        "secret-not-a-ref",
        ENV + f"    variables: {{DB: {{secret: {SECRET}}}}}\n",
        4,
        30,
        ["expected a secret reference SCHEME:NAME", "a literal secret value is not allowed"],
    ),
    (
        "secret-scheme",
        ENV + "    variables: {DB: {secret: vault:db}}\n",
        4,
        30,
        ["unknown secret scheme 'vault'", "expected one of env"],
    ),
    (
        "secret-typo",
        ENV + "    variables: {DB: {secrets: env:X}}\n",
        4,
        22,
        ["unknown key 'secrets'", "did you mean 'secret'?"],
    ),
    (
        "var-name",
        ENV + "    variables: {MY-VAR: x}\n",
        4,
        17,
        ["invalid key 'MY-VAR'", "expected a variable name"],
    ),
    (
        "var-reserved",
        ENV + "    variables: {TRAINMASTER_PROJECT: x}\n",
        4,
        17,
        ["invalid key 'TRAINMASTER_PROJECT'", "TRAINMASTER_ (reserved)"],
    ),
    ("var-reserved-lower", "variables: {trainmaster_x: y}\n" + ENV, 1, 13, ["TRAINMASTER_ (reserved)"]),
    (
        "var-list",
        ENV + "    variables: {A: [1]}\n",
        4,
        20,
        ["expected a string, a number, true/false, or {secret", "got a list"],
    ),
    ("var-null", ENV + "    variables: {A: null}\n", 4, 20, ["got nothing (null)"]),
    (
        "variables-not-mapping",
        ENV + "    variables: [A]\n",
        4,
        16,
        ["expected a mapping of variable names", "got a list"],
    ),
    (
        "pass-env",
        ENV + "    pass_env: [1BAD]\n",
        4,
        16,
        ["'pass_env[0]' of environment 'dev'", "environment variable name"],
    ),
    (
        "pkg-collision",
        "packages: {my-app: a, my_app: b}\n" + ENV,
        1,
        23,
        ["packages 'my-app' and 'my_app' both map to TRAINMASTER_PACKAGE_MY_APP"],
    ),
    (
        "pkg-name",
        "packages: {'a b': x}\n" + ENV,
        1,
        12,
        ["invalid key 'a b' in 'packages'", "expected a name"],
    ),
    (
        "pkg-typo",
        "packages: {app: {path: x, deplyo: y}}\n" + ENV,
        1,
        27,
        ["unknown key 'deplyo' in package 'app'", "did you mean 'deploy'?"],
    ),
    (
        "pkg-no-path",
        "packages: {app: {deploy: y}}\n" + ENV,
        1,
        17,
        ["missing required key 'path' in package 'app'"],
    ),
    (
        "pkg-number",
        "packages: {app: 3}\n" + ENV,
        1,
        17,
        ["expected a path string or a mapping", "got a number"],
    ),
    (
        "dup-env",
        ENV + "  - name: test\n  - name: dev\n",
        5,
        11,
        ["environment name 'dev' is used twice (first at line 3)"],
    ),
    (
        "dup-env-in-stage",
        ENV + "  - stage: s\n    environments: [{name: dev}]\n",
        5,
        27,
        ["environment name 'dev' is used twice"],
    ),
    (
        "dup-stage",
        ENV + "  - stage: dev\n    environments: [{name: x}]\n",
        4,
        12,
        ["stage name 'dev' is used twice"],
    ),
    ("stage-empty", ENV + "  - stage: s\n    environments: []\n", 5, 19, ["expected a non-empty list"]),
    (
        "stage-require",
        ENV + "  - stage: s\n    require: most\n    environments: [{name: x}]\n",
        5,
        14,
        ["'require' of stage 's'", "expected one of all, any"],
    ),
    (
        "stage-typo",
        ENV + "  - stage: s\n    enviroments: [{name: x}]\n",
        5,
        5,
        ["unknown key 'enviroments' in stage 's'", "did you mean 'environments'?"],
    ),
    (
        "stage-env-typo",
        ENV + "  - stage: s\n    environments: [{name: x, smoek: y}]\n",
        5,
        30,
        ["unknown key 'smoek' in environment 'x'", "did you mean 'smoke'?"],
    ),
    ("defaults-name", "defaults: {name: x}\n" + ENV, 1, 12, ["unknown key 'name' in defaults"]),
    (
        "defaults-typo",
        "defaults: {targt: local}\n" + ENV,
        1,
        12,
        ["unknown key 'targt' in defaults", "did you mean 'target'?"],
    ),
    (
        "webhook-url",
        "notify: [{webhook: ftp://x}]\n" + ENV,
        1,
        20,
        ["'webhook' of notify entry 1", "expected an http(s) URL"],
    ),
    (
        "webhook-secret-url",
        f"notify: [{{webhook: {{secret: 'https://hooks.example.com/{SECRET}'}}}}]\n" + ENV,
        1,
        29,
        ["unknown secret scheme 'https'"],
    ),
    (
        "notify-event",
        "notify: [{webhook: 'https://x.example', events: [deployed]}]\n" + ENV,
        1,
        50,
        ["expected one of release_created, deployment_started"],
    ),
    (
        "notify-missing-webhook",
        "notify: [{events: []}]\n" + ENV,
        1,
        10,
        ["missing required key 'webhook' in notify entry 1"],
    ),
    ("ledger", "ledger: [sqlite]\n" + ENV, 1, 9, ["'ledger'", "expected a name", "got a list"]),
    ("publish", "publish: github\n" + ENV, 1, 10, ["'publish'", "expected a list"]),
    ("state-dir", "state_dir: ''\n" + ENV, 1, 12, ["'state_dir'", "expected a non-empty string"]),
    (
        "plugin-block-unknown",
        "github: {repository: o/r}\n" + ENV,
        1,
        1,
        ["unknown key 'github' at the top level"],
    ),
    ("yaml-syntax", "project: 'p\ntrain: []\n", 3, 1, ["invalid YAML", "quoted scalar"]),
    ("yaml-tab", "project: p\ntrain:\n\t- name: dev\n", 3, 1, ["invalid YAML", "tabs are not allowed"]),
    (
        "yaml-tab-nested",
        "project: p\ntrain:\n  - name: dev\n\t  target: local\n",
        4,
        1,
        ["tabs are not allowed"],
    ),
    (
        "yaml-duplicate",
        "project: p\nproject: q\ntrain: [{name: dev}]\n",
        2,
        1,
        ["duplicate key 'project' (first given at line 1)"],
    ),
    (
        "yaml-duplicate-nested",
        ENV + "    name: again\n",
        4,
        5,
        ["duplicate key 'name' (first given at line 3)"],
    ),
    ("yaml-list-document", "- project\n- train\n", 1, 1, ["the document is a list", "expected a mapping"]),
    ("yaml-scalar-document", "hello\n", 1, 1, ["the document is a single value", "expected a mapping"]),
    ("yaml-empty", "# nothing\n", 1, 1, ["the config file is empty"]),
    ("yaml-two-documents", ENV + "---\nproject: q\n", 4, 1, ["invalid YAML", "single document"]),
    (
        "yaml-python-tag",
        "project: !!python/object/apply:os.system [x]\ntrain: []\n",
        1,
        10,
        ["unsupported YAML tag"],
    ),
    ("yaml-custom-tag", ENV + "    deploy: !Ref x\n", 4, 13, ["unsupported YAML tag '!Ref'"]),
    ("yaml-complex-key", "? [a]\n: b\n", 1, 3, ["expected a plain key"]),
    (
        "yaml-error-on-a-secret-line",
        ENV + f"    deploy: ./d --token {SECRET}: x\n",
        4,
        32,
        ["invalid YAML", "mapping values are not allowed"],
    ),
    ("yaml-recursive-alias", "project: p\ntrain: &t [*t]\n", 2, 8, ["recursive alias"]),
]


def _load(tmp_path: Path, text: str, **kwargs: Any) -> Any:
    path = tmp_path / "trainmaster.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, display_path="trainmaster.yaml", **kwargs)


GITHUB_ONLY_PLUGINS: dict[str, dict[str, Any]] = {
    "github": {
        "type": "object",
        "additionalProperties": False,
        "required": ["repository"],
        "properties": {
            "repository": {"type": "string", "pattern": "^[^/]+/[^/]+$"},
            "environment": {"type": "string"},
            "labels": {"type": "array", "items": {"$ref": "#/$defs/label"}},
        },
        "$defs": {"label": {"type": "string", "minLength": 1}},
    },
}


# (id, yaml, line, column, substrings)
BAD_PLUGIN: list[tuple[str, str, int, int, list[str]]] = [
    (
        "top-missing-required",
        "github: {environment: x}\n" + ENV,
        1,
        9,
        ["missing required key 'repository' in 'github'"],
    ),
    (
        "env-typo",
        "github: {repository: o/r}\n" + ENV + "    github: {enviroment: x}\n",
        5,
        14,
        ["unknown key 'enviroment' in 'github' of environment 'dev'", "did you mean 'environment'?"],
    ),
    (
        "defaults-type",
        "github: {repository: o/r}\ndefaults: {github: {environment: 3}}\n" + ENV,
        2,
        34,
        ["'github.environment' of defaults", "expected a string, got a number"],
    ),
    (
        "merged-missing-required",
        ENV + "    github: {environment: x}\n",
        4,
        13,
        ["missing required key 'repository' in 'github' of environment 'dev'"],
    ),
    (
        "nested-ref",
        "github: {repository: o/r, labels: ['']}\n" + ENV,
        1,
        36,
        ["'github.labels[0]'", "non-empty string"],
    ),
    (
        "other-block-unknown",
        "github: {repository: o/r}\n" + ENV + "    octopus: {}\n",
        5,
        5,
        ["unknown key 'octopus' in environment 'dev'"],
    ),
    ("block-not-mapping", ENV + "    github: o/r\n", 4, 13, ["expected a mapping, got a string"]),
]


