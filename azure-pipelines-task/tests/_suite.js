// L0 tests of the shim: task-lib's MockTestRunner on the local node (it cannot download one here).
const assert = require('assert');
const cp = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { MockTestRunner } = require('azure-pipelines-task-lib/mock-test');
const { commandFromString } = require('azure-pipelines-task-lib/taskcommand');

const TASK_JSON = path.join(__dirname, '..', 'task.json');
const SCENARIO = path.join(__dirname, 'scenario.js');
const FAKE_PYTHON = path.join(__dirname, 'fakepython.sh');
const WHEELS = path.join(__dirname, '..', 'wheels');
const LOCK = path.join(WHEELS, 'requirements.txt');
const TOKEN = 'l0-secret-token-5f2c9a';
const PAT = 'l0-connection-pat-77e1';

function commands(stdout) {
  return stdout.split(/\r?\n/).filter((l) => l.includes('##vso[')).map((l) => commandFromString(l.slice(l.indexOf('##vso['))));
}

async function runCase(spec) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tm-l0-'));
  const log = path.join(tmp, 'calls.log');
  const tools = spec.tools || path.join(tmp, 'tools');
  const cwd = path.join(tmp, 'work');
  fs.mkdirSync(cwd);
  const config = path.join(cwd, 'trainmaster.yaml');
  fs.writeFileSync(config, 'project: demo\n');
  const env = Object.assign({
    FAKE_PY_LOG: log,
    AGENT_TOOLSDIRECTORY: tools,
    SYSTEM_DEFAULTWORKINGDIRECTORY: cwd,
    ENDPOINT_AUTH_PARAMETER_SYSTEMVSSCONNECTION_ACCESSTOKEN: TOKEN,
    TF_BUILD: 'True',
  }, spec.env || {});
  const inputs = Object.assign({ config, workingDirectory: cwd }, spec.inputs);
  process.env.L0_CASE = JSON.stringify({ inputs, env, python: FAKE_PYTHON, cwd, config });
  const tr = new MockTestRunner(SCENARIO, TASK_JSON);
  tr.nodePath = process.execPath;
  await tr.runAsync();
  delete process.env.L0_CASE;
  const read = (f) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '');
  const childEnv = {};
  for (const line of read(log + '.env').split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) childEnv[line.slice(0, i)] = line.slice(i + 1);
  }
  return { tr, calls: read(log).split('\n').filter(Boolean), childEnv, cwd: read(log + '.cwd').trim(), config, tools, workdir: cwd };
}

describe('trainmaster task (L0)', function () {
  this.timeout(30000);
  let madeWheel = null;
  let lockText = null;

  before(() => {
    fs.mkdirSync(WHEELS, { recursive: true });
    if (!fs.readdirSync(WHEELS).some((f) => /^trainmaster-.*\.whl$/.test(f))) {
      madeWheel = path.join(WHEELS, 'trainmaster-0.0.0-py3-none-any.whl');
      fs.writeFileSync(madeWheel, 'not a real wheel: L0 tests only');
    }
    lockText = fs.existsSync(LOCK) ? fs.readFileSync(LOCK) : null;
    fs.copyFileSync(path.join(__dirname, '..', '..', 'requirements', 'azure-task.txt'), LOCK);
  });

  after(() => {
    if (madeWheel) fs.rmSync(madeWheel);
    if (lockText === null) fs.rmSync(LOCK, { force: true });
    else fs.writeFileSync(LOCK, lockText);
  });

  it('turns the inputs into the Python arguments and environment', async () => {
    const r = await runCase({
      inputs: { command: 'deploy', version: '1.2.3', environment: 'prod', arguments: '--force' },
    });
    assert.ok(r.tr.succeeded, r.tr.stdout + r.tr.stderr);
    const trainmaster = r.calls.find((c) => c.startsWith('-m trainmaster'));
    assert.strictEqual(trainmaster, `-m trainmaster --config ${r.config} deploy 1.2.3 --to prod --force`);
    assert.strictEqual(r.childEnv.SYSTEM_ACCESSTOKEN, TOKEN);
    assert.strictEqual(r.childEnv.TRAINMASTER_AZURE_TASK, '1');
    assert.strictEqual(r.childEnv.TF_BUILD, 'True');
    assert.ok(!Object.keys(r.childEnv).some((k) => /^(INPUT_|ENDPOINT_AUTH_|SECRET_)/.test(k)), 'no vault variables leak');
    assert.strictEqual(r.cwd, fs.realpathSync(r.workdir));
    assert.ok(r.calls.some((c) => c.startsWith('-m venv')), 'a venv is created');
    const pip = r.calls.filter((c) => c.startsWith('-m pip install'));
    assert.strictEqual(pip.length, 2, pip.join('\n'));
    assert.ok(pip[0].includes(' --require-hashes --only-binary :all: -r ') && pip[0].endsWith(LOCK), pip[0]);
    assert.ok(/ --no-deps \S*trainmaster-\S*\.whl$/.test(pip[1]), 'then the bundled wheel, nothing resolved: ' + pip[1]);
    assert.ok(!pip.some((c) => c.includes('[azure]')), 'no dependency comes from the index unpinned');
  });

  it('installs a new venv when the bundled lock changes', async () => {
    const tools = fs.mkdtempSync(path.join(os.tmpdir(), 'tm-l0-tools-'));
    const first = await runCase({ inputs: { command: 'status' }, tools });
    assert.ok(first.tr.succeeded, first.tr.stdout + first.tr.stderr);
    const saved = fs.readFileSync(LOCK);
    try {
      fs.appendFileSync(LOCK, '# changed\n');
      const second = await runCase({ inputs: { command: 'status' }, tools });
      assert.ok(second.calls.some((c) => c.startsWith('-m venv')), 'a changed lock is a new venv');
      assert.strictEqual(fs.readdirSync(path.join(tools, 'trainmaster')).length, 2);
    } finally {
      fs.writeFileSync(LOCK, saved);
    }
  });

  it('reports a non-zero exit as Failed', async () => {
    const r = await runCase({ inputs: { command: 'release create', version: '1.0.0' }, env: { FAKE_EXIT: '3' } });
    assert.ok(r.tr.failed, 'the task failed');
    const complete = commands(r.tr.stdout).filter((c) => c.command === 'task.complete');
    assert.strictEqual(complete[complete.length - 1].properties.result, 'Failed');
    assert.ok(r.tr.errorIssues.some((m) => m.includes('exited 3')), r.tr.errorIssues.join('\n'));
  });

  it('never prints the token', async () => {
    const ok = await runCase({ inputs: { command: 'status' } });
    const failed = await runCase({ inputs: { command: 'status' }, env: { FAKE_EXIT: '5' } });
    for (const r of [ok, failed]) {
      assert.ok(!r.tr.stdout.includes(TOKEN) && !r.tr.stderr.includes(TOKEN), "token printed:\n" + r.tr.stdout.split("\n").filter((l) => l.includes(TOKEN)).join("\n") + r.tr.stderr);
      assert.strictEqual(r.childEnv.SYSTEM_ACCESSTOKEN, TOKEN);
    }
  });

  it('uses the service connection token when one is given', async () => {
    const r = await runCase({
      inputs: { command: 'validate', azureDevOpsConnection: 'conn1' },
      env: { ENDPOINT_AUTH_conn1: JSON.stringify({ scheme: 'Token', parameters: { apitoken: PAT } }) },
    });
    assert.ok(r.tr.succeeded, r.tr.stdout + r.tr.stderr);
    assert.strictEqual(r.childEnv.SYSTEM_ACCESSTOKEN, PAT);
    assert.ok(!r.tr.stdout.includes(PAT) && !r.tr.stdout.includes(TOKEN));
  });

  it('fails with the missing input named, before running Python', async () => {
    const r = await runCase({ inputs: { command: 'deploy', environment: 'prod' } });
    assert.ok(r.tr.failed);
    assert.ok(r.tr.errorIssues.some((m) => m.includes("input 'version' is required for 'deploy'")), r.tr.errorIssues.join('\n'));
    assert.ok(!r.calls.some((c) => c.startsWith('-m trainmaster')));
  });

  it('passes the service connection URL to Python as the organisation', async () => {
    const r = await runCase({
      inputs: { command: 'status', azureDevOpsConnection: 'conn1' },
      env: {
        ENDPOINT_AUTH_conn1: JSON.stringify({ scheme: 'Token', parameters: { apitoken: PAT } }),
        ENDPOINT_URL_conn1: 'https://dev.azure.com/other-org/',
      },
    });
    assert.ok(r.tr.succeeded, r.tr.stdout + r.tr.stderr);
    assert.strictEqual(r.childEnv.TRAINMASTER_AZURE_ORGANIZATION, 'https://dev.azure.com/other-org/');
    const plain = await runCase({ inputs: { command: 'status' } });
    assert.ok(!('TRAINMASTER_AZURE_ORGANIZATION' in plain.childEnv), 'no connection: Python uses SYSTEM_COLLECTIONURI');
  });

  it('reports a child stopped by a signal as Cancelled, not Failed', async () => {
    const r = await runCase({ inputs: { command: 'status' }, env: { FAKE_SIGNAL: 'TERM' } });
    const complete = commands(r.tr.stdout).filter((c) => c.command === 'task.complete');
    assert.strictEqual(complete[complete.length - 1].properties.result, 'Cancelled', r.tr.stdout);
    assert.ok(r.tr.stdout.includes('stopped by SIGTERM'), r.tr.stdout);
  });

  it('syncs to the publisher named by the to input', async () => {
    const r = await runCase({ inputs: { command: 'sync', to: 'octopus', version: '1.2.3' } });
    assert.ok(r.tr.succeeded, r.tr.stdout + r.tr.stderr);
    assert.ok(r.calls.includes(`-m trainmaster --config ${r.config} sync --to octopus 1.2.3`), r.calls.join('\n'));
    const dflt = await runCase({ inputs: { command: 'sync' } });
    assert.ok(dflt.calls.includes(`-m trainmaster --config ${dflt.config} sync --to azure-devops`), dflt.calls.join('\n'));
  });

  it('builds the cached venv safely when two agents share the tools directory', async () => {
    const tools = fs.mkdtempSync(path.join(os.tmpdir(), 'tm-l0-tools-'));
    const start = (n) => {
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `tm-l0-race${n}-`));
      const cwd = path.join(tmp, 'work');
      fs.mkdirSync(cwd);
      const config = path.join(cwd, 'trainmaster.yaml');
      fs.writeFileSync(config, 'project: demo\n');
      // each agent has its own temp directory, where task-lib keeps its vault key (.taskkey)
      const env = { FAKE_PY_LOG: path.join(tmp, 'calls.log'), FAKE_VENV_DELAY: '1', AGENT_TOOLSDIRECTORY: tools,
        AGENT_TEMPDIRECTORY: tmp,
        SYSTEM_DEFAULTWORKINGDIRECTORY: cwd, ENDPOINT_AUTH_PARAMETER_SYSTEMVSSCONNECTION_ACCESSTOKEN: TOKEN };
      const c = { inputs: { command: 'status', config, workingDirectory: cwd }, env, python: FAKE_PYTHON, cwd, config };
      return new Promise((resolve) => {
        const child = cp.spawn(process.execPath, [SCENARIO], { env: Object.assign({}, process.env, { L0_CASE: JSON.stringify(c) }) });
        let out = '';
        child.stdout.on('data', (d) => { out += d; });
        child.on('close', () => resolve(out));
      });
    };
    const outs = await Promise.all([start(1), start(2)]);
    for (const out of outs) {
      const complete = commands(out).filter((c) => c.command === 'task.complete');
      assert.strictEqual(complete[complete.length - 1].properties.result, 'Succeeded', out);
      assert.ok(out.includes('trainmaster ran'), out);
    }
    assert.ok(outs.some((o) => o.includes('finished') && o.includes('first: using it')), outs.join('\n'));
    const entries = fs.readdirSync(path.join(tools, 'trainmaster'));
    assert.strictEqual(entries.length, 1, entries.join(', '));  // one complete venv, no half-built leftovers
    assert.ok(fs.existsSync(path.join(tools, 'trainmaster', entries[0], '.trainmaster-installed')));
  });

  it('reuses the cached venv on the next run', async () => {
    const first = await runCase({ inputs: { command: 'status' } });
    const again = await runCase({ inputs: { command: 'status' }, tools: first.tools });
    assert.ok(again.tr.succeeded, again.tr.stdout);
    assert.ok(!again.calls.some((c) => c.startsWith('-m venv')), again.calls.join('\n'));
    assert.ok(again.calls.some((c) => c.startsWith('-m trainmaster')));
  });
});
