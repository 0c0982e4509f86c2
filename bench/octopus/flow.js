// Runs the official Octopus TypeScript client (@octopusdeploy/api-client, installed under
// tests/fakes/node) against an Octopus server or fake.
//   node flow.js flow PACKAGE_FILE PROJECT VERSION ENVIRONMENT
//       push one package, create the release, deploy to one environment, wait until success
//   node flow.js readback PROJECT VERSION ENVIRONMENT
//       read back a release, its package versions, its deployment to ENVIRONMENT and that task
// Reads OCTOPUS_URL, OCTOPUS_API_KEY and OCTOPUS_SPACE; prints one JSON object.
"use strict";
const path = require("path");
const modules = process.env.TRAINMASTER_NODE_MODULES ||
  path.join(__dirname, "..", "..", "tests", "fakes", "node", "node_modules");
const api = require(path.join(modules, "@octopusdeploy", "api-client"));

async function main() {
  const [mode, ...args] = process.argv.slice(2);
  const space = process.env.OCTOPUS_SPACE || "Default";
  const client = await api.Client.create({
    instanceURL: process.env.OCTOPUS_URL, apiKey: process.env.OCTOPUS_API_KEY, userAgentApp: "trainmaster-bench",
  });
  if (mode === "flow") {
    const [file, project, version, environment] = args;
    await new api.PackageRepository(client, space).push([file], api.OverwriteMode.FailIfExists);
    const pkgId = path.basename(file).split(".")[0];
    const rel = await new api.ReleaseRepository(client, space).create({
      spaceName: space, ProjectName: project, ReleaseVersion: version, Packages: [`${pkgId}:${version}`],
    });
    const dep = await new api.DeploymentRepository(client, space).create({
      spaceName: space, ProjectName: project, ReleaseVersion: version, EnvironmentNames: [environment],
    });
    const ids = dep.DeploymentServerTasks.map((t) => t.ServerTaskId);
    const tasks = await new api.ServerTaskWaiter(client, space).waitForServerTasksToComplete(ids, 10, 60000);
    console.log(JSON.stringify({ release: rel.ReleaseId, tasks: tasks.map((t) => t.State) }));
    return;
  }
  if (mode === "readback") {
    const [project, version, environment] = args;
    const projects = await new api.ProjectRepository(client, space).list({ partialName: project });
    const proj = projects.Items.find((p) => p.Name === project);
    const releases = await new api.ReleaseRepository(client, space).listForProject(proj.Id, { searchByVersion: version });
    const release = releases.Items.find((r) => r.Version === version);
    const envs = await new api.EnvironmentRepository(client, space).list({ partialName: environment });
    const env = envs.Items.find((e) => e.Name === environment);
    const deps = await new api.DeploymentRepository(client, space).list({ projects: [proj.Id], environments: [env.Id] });
    const dep = deps.Items.find((d) => d.ReleaseId === release.Id);
    const task = dep ? await new api.SpaceServerTaskRepository(client, space).getById(dep.TaskId) : null;
    console.log(JSON.stringify({
      release: { id: release.Id, version: release.Version, notes: release.ReleaseNotes,
        packages: release.SelectedPackages.map((p) => ({ action: p.ActionName, version: p.Version })) },
      deployment: dep ? { id: dep.Id, release: dep.ReleaseId, environment: dep.EnvironmentId, task: dep.TaskId } : null,
      task: task ? { id: task.Id, state: task.State, completed: task.IsCompleted } : null,
    }));
    return;
  }
  throw new Error(`unknown mode ${mode}`);
}

main().catch((e) => { console.error(String(e && e.message || e)); process.exit(1); });
