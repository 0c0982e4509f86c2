// The trainmaster Azure Pipelines task: a thin shim that runs the trainmaster CLI.
//
// azure-pipelines-task-lib moves every INPUT_*, ENDPOINT_AUTH_* and SECRET_* variable
// into its vault and deletes it from process.env when it loads, so a child process
// would see none of them. This shim reads the inputs and the token through task-lib,
// builds an explicit environment and argument list, runs `python -m trainmaster` from a
// venv cached under AGENT_TOOLSDIRECTORY (the wheel bundled in this task installed into
// it), and reports the exit code through setResult. Python prints its own ##vso lines.
import * as tl from 'azure-pipelines-task-lib/task';
import * as cp from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as stream from 'stream';

const EXIT_MEANING: { [code: number]: string } = {
  1: 'a deployment ran and failed',
  2: 'invalid input or configuration',
  3: 'refused by the train or a gate, or waiting on an approval (a re-run continues)',
  4: 'integrity violation (release conflict, digest mismatch, drift)',
  5: 'a remote system stayed unavailable (a re-run is safe)',
};

export interface Inputs {
  command: string;
  version: string;
  environment: string;
  from: string;
  config: string;
  arguments: string;
  to?: string;
}

function need(value: string, name: string, command: string): string {
  if (!value) {
    throw new Error(`input '${name}' is required for '${command}'`);
  }
  return value;
}

/** Split extra arguments like a shell would (quotes group, no expansion). */
export function splitArgs(text: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    out.push(m[1] ?? m[2] ?? m[3]);
  }
  return out;
}

/** The arguments after `python`: `-m trainmaster [--config C] COMMAND ...`. */
export function buildArgs(i: Inputs): string[] {
  const args = ['-m', 'trainmaster'];
  if (i.config) {
    args.push('--config', i.config);
  }
  const c = i.command;
  switch (c) {
    case 'release create':
      args.push('release', 'create', need(i.version, 'version', c));
      break;
    case 'release fetch':
      args.push('release', 'fetch', need(i.version, 'version', c));
      break;
    case 'deploy':
      args.push('deploy', need(i.version, 'version', c), '--to', need(i.environment, 'environment', c));
      break;
    case 'promote':
      args.push('promote', '--from', need(i.from, 'from', c), '--to', need(i.environment, 'environment', c));
      break;
    case 'rollback':
      args.push('rollback', '--env', need(i.environment, 'environment', c));
      if (i.version) {
        args.push('--to', i.version);
      }
      break;
    case 'approve':
      args.push('approve', need(i.version, 'version', c), '--env', need(i.environment, 'environment', c));
      break;
    case 'history':
      args.push('history');
      if (i.environment) {
        args.push('--env', i.environment);
      }
      break;
    case 'sync':
      args.push('sync', '--to', i.to || 'azure-devops');
      if (i.version) {
        args.push(i.version);
      }
      break;
    case 'status':
    case 'validate':
      args.push(c);
      break;
    default:
      throw new Error(`unknown command '${c}'`);
  }
  return args.concat(splitArgs(i.arguments));
}

/** Run fn with task-lib's output discarded: getEndpointAuthorizationParameter debug-prints the value it reads. */
function quietly<T>(fn: () => T): T {
  tl.setStdStream(new stream.Writable({ write: (_chunk, _encoding, done) => done() }));
  try {
    return fn();
  } finally {
    tl.setStdStream(process.stdout);
  }
}

/** The organisation URL of the service connection, when one is given (else Python uses SYSTEM_COLLECTIONURI). */
export function connectionUrl(): string | undefined {
  const connection = tl.getInput('azureDevOpsConnection', false);
  // Optional: a connection without a URL leaves the organisation to SYSTEM_COLLECTIONURI or the config.
  return connection ? tl.getEndpointUrl(connection, true) || undefined : undefined;
}

/** The token: the service connection's, else the job's own (SystemVssConnection). Never printed. */
export function readToken(): string | undefined {
  const connection = tl.getInput('azureDevOpsConnection', false);
  if (connection) {
    const p = quietly(() => tl.getEndpointAuthorization(connection, true))?.parameters ?? {};
    const token = p['apitoken'] || p['password'] || p['AccessToken'] || p['accesstoken'];
    if (!token) {
      throw new Error(`service connection '${connection}' holds no token (use its Token scheme)`);
    }
    return token;
  }
  const job = quietly(() => tl.getEndpointAuthorization('SYSTEMVSSCONNECTION', true))?.parameters ?? {};
  return (
    job['AccessToken'] ||
    quietly(() => tl.getEndpointAuthorizationParameter('SYSTEMVSSCONNECTION', 'AccessToken', true)) ||
    undefined
  );
}

function findPython(): string {
  for (const name of ['python3', 'python']) {
    const found = tl.which(name, false);
    if (found) {
      const probe = cp.spawnSync(found, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], {
        encoding: 'utf8',
      });
      const [major, minor] = (probe.stdout || '').trim().split('.').map(Number);
      if (probe.status === 0 && (major > 3 || (major === 3 && minor >= 11))) {
        return found;
      }
    }
  }
  throw new Error('trainmaster needs Python 3.11 or later on PATH: add UsePythonVersion@0 (versionSpec 3.12) first');
}

function bundledWheel(): string {
  const dir = path.join(__dirname, '..', 'wheels');
  const wheels = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /^trainmaster-.*\.whl$/.test(f)) : [];
  if (wheels.length !== 1) {
    throw new Error(`the task must bundle exactly one trainmaster wheel in ${dir} (found ${wheels.length})`);
  }
  return path.join(dir, wheels[0]);
}

/** The hash-pinned lock of trainmaster[azure]'s dependencies (requirements/azure-task.txt, bundled by build.sh). */
export function bundledLock(): string {
  const lock = path.join(__dirname, '..', 'wheels', LOCK);
  if (!fs.existsSync(lock)) {
    throw new Error(`the task must bundle its hash-pinned dependencies in ${lock}`);
  }
  return lock;
}

const LOCK = 'requirements.txt';

/**
 * A venv with the bundled wheel, cached under AGENT_TOOLSDIRECTORY by the digest of the wheel and the lock.
 *
 * What runs is pinned: the dependencies are installed from the bundled lock with
 * `--require-hashes --only-binary :all:` (pip refuses any file whose sha256 is not in it), then the
 * bundled wheel with `--no-deps` (nothing else is resolved from the package index).
 *
 * Two agents may share AGENT_TOOLSDIRECTORY, so the venv is built in a private temporary
 * directory and renamed into place in one step: the cache path only ever holds a complete
 * venv. If the rename finds the path taken (EEXIST/ENOTEMPTY), another agent finished first
 * and its venv is used. (`bin/python -m trainmaster` works from the renamed venv: Python finds
 * its prefix from pyvenv.cfg beside the executable; no console script is used.)
 */
export function venvPython(python: string, env: NodeJS.ProcessEnv): string {
  const wheel = bundledWheel();
  const lock = bundledLock();
  const digest = crypto
    .createHash('sha256')
    .update(fs.readFileSync(wheel))
    .update(fs.readFileSync(lock))
    .digest('hex')
    .slice(0, 16);
  const root = process.env['AGENT_TOOLSDIRECTORY'] || process.env['AGENT_TEMPDIRECTORY'] || os.tmpdir();
  const venv = path.join(root, 'trainmaster', digest);
  const binOf = (dir: string) =>
    process.platform === 'win32' ? path.join(dir, 'Scripts', 'python.exe') : path.join(dir, 'bin', 'python');
  const ready = (dir: string) => fs.existsSync(path.join(dir, MARKER)) && fs.existsSync(binOf(dir));
  if (ready(venv)) {
    return binOf(venv);
  }
  fs.mkdirSync(path.dirname(venv), { recursive: true });
  const building = fs.mkdtempSync(`${venv}.building-`);
  try {
    console.log(`Installing ${path.basename(wheel)} into ${venv}`);
    const run = (exe: string, args: string[]) => {
      const r = cp.spawnSync(exe, args, { stdio: 'inherit', env });
      if (r.status !== 0) {
        throw new Error(`'${path.basename(exe)} ${args.slice(0, 3).join(' ')}' failed (exit ${r.status})`);
      }
    };
    run(python, ['-m', 'venv', '--clear', building]);
    const pip = ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '--quiet'];
    run(binOf(building), [...pip, '--require-hashes', '--only-binary', ':all:', '-r', lock]);
    run(binOf(building), [...pip, '--no-deps', wheel]);
    fs.writeFileSync(path.join(building, MARKER), wheel + '\n');
    try {
      fs.renameSync(building, venv);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST' && code !== 'ENOTEMPTY' && code !== 'EPERM') {
        throw err;
      }
      if (ready(venv)) {
        console.log(`Another job finished ${venv} first: using it`);
      } else {
        // Not another agent's finished venv: a partial one left by an older version of this task.
        fs.rmSync(venv, { recursive: true, force: true });
        fs.renameSync(building, venv);
      }
    }
  } finally {
    fs.rmSync(building, { recursive: true, force: true });
  }
  return binOf(venv);
}

const MARKER = '.trainmaster-installed';

/** The child's environment: the agent's variables (task-lib already removed the secret ones), plus the token
 * and the service connection's organisation URL (the adapter prefers it to SYSTEM_COLLECTIONURI; the
 * configuration's azure-devops.organization still wins). */
export function childEnv(token: string | undefined, organization?: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^(INPUT_|ENDPOINT_AUTH_|SECRET_)/.test(key)) {
      env[key] = value;
    }
  }
  if (token) {
    env['SYSTEM_ACCESSTOKEN'] = token;
  }
  if (organization) {
    env['TRAINMASTER_AZURE_ORGANIZATION'] = organization;
  }
  env['TRAINMASTER_AZURE_TASK'] = '1';
  env['PYTHONUNBUFFERED'] = '1';
  env['PYTHONIOENCODING'] = 'utf-8';
  return env;
}

async function run(): Promise<void> {
  try {
    const inputs: Inputs = {
      command: tl.getInput('command', true) || '',
      version: tl.getInput('version', false) || '',
      environment: tl.getInput('environment', false) || '',
      from: tl.getInput('from', false) || '',
      config: tl.filePathSupplied('config') ? tl.getPathInput('config', false) || '' : '',
      arguments: tl.getInput('arguments', false) || '',
      to: tl.getInput('to', false) || '',
    };
    const args = buildArgs(inputs);
    const cwd = tl.filePathSupplied('workingDirectory')
      ? tl.getPathInput('workingDirectory', false) || process.cwd()
      : tl.getVariable('System.DefaultWorkingDirectory') || process.cwd();
    const env = childEnv(readToken(), connectionUrl());
    const python = venvPython(findPython(), env);
    console.log(`trainmaster ${args.slice(2).join(' ')}`);
    const result = cp.spawnSync(python, args, { cwd, env, stdio: 'inherit' });
    if (result.error) {
      throw result.error;
    }
    if (result.signal) {
      // Stopped from outside (the job was cancelled or timed out): not a failure of the release.
      tl.setResult(tl.TaskResult.Cancelled, `trainmaster was stopped by ${result.signal}`);
      return;
    }
    const code = result.status ?? 1;
    if (code === 0) {
      tl.setResult(tl.TaskResult.Succeeded, '');
    } else {
      tl.setResult(tl.TaskResult.Failed, `trainmaster exited ${code}: ${EXIT_MEANING[code] ?? 'unexpected error'}`);
    }
  } catch (err) {
    tl.setResult(tl.TaskResult.Failed, err instanceof Error ? err.message : String(err));
  }
}

void run();
