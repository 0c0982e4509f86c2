// One L0 scenario for TaskMockRunner: inputs, endpoint variables and answers come from L0_CASE (JSON).
const path = require('path');
const mr = require('azure-pipelines-task-lib/mock-run');

const c = JSON.parse(process.env.L0_CASE);
const tmr = new mr.TaskMockRunner(path.join(__dirname, '..', 'dist', 'index.js'));
for (const [name, value] of Object.entries(c.inputs || {})) {
  tmr.setInput(name, value);
}
for (const [name, value] of Object.entries(c.env || {})) {
  process.env[name] = value;
}
tmr.setAnswers({
  which: { python3: c.python, python: c.python },
  checkPath: { [c.python]: true, [c.cwd]: true, [c.config]: true },
  exist: { [c.cwd]: true },
});
tmr.run();
