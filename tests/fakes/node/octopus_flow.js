// Drives the official Octopus TypeScript client (@octopusdeploy/api-client) against the Octopus fake:
// push a package, create a release, deploy it, wait for the server task. Prints one JSON line.
// Usage: node octopus_flow.js <OCTOPUS_URL> <API_KEY> <SPACE_NAME> <PROJECT_NAME> <ENVIRONMENT> <PACKAGE_FILE> [CANCEL_MS]
// With CANCEL_MS the wait gives up after that many milliseconds and cancels the tasks (cancelOnTimeout);
// the JSON line then carries the client's error instead of the task states.
"use strict";
const {
  Client, ReleaseRepository, DeploymentRepository, ServerTaskWaiter, PackageRepository, OverwriteMode,
} = require("@octopusdeploy/api-client");

async function main() {
  const [instanceURL, apiKey, spaceName, projectName, environment, packageFile, cancelMs] = process.argv.slice(2);
  const client = await Client.create({ instanceURL, apiKey, userAgentApp: "trainmaster-fake-check" });
  if (packageFile) {
    await new PackageRepository(client, spaceName).push([packageFile], OverwriteMode.OverwriteExisting);
  }
  const release = await new ReleaseRepository(client, spaceName).create({
    spaceName, projectName, releaseVersion: "1.2.3", packageVersion: "1.2.3",
  });
  const deployment = await new DeploymentRepository(client, spaceName).create({
    spaceName, projectName, releaseVersion: release.ReleaseVersion, environmentNames: [environment],
  });
  const taskIds = deployment.DeploymentServerTasks.map((t) => t.ServerTaskId);
  const waiter = new ServerTaskWaiter(client, spaceName);
  if (cancelMs) {
    let error = null;
    try {
      await waiter.waitForServerTasksToComplete(taskIds, 50, Number(cancelMs), undefined, true);
    } catch (err) {
      error = String(err && err.message ? err.message : err);
    }
    console.log(JSON.stringify({ release, deployment, error }));
    process.exit(0);
  }
  const tasks = await waiter.waitForServerTasksToComplete(taskIds, 50, 20000);
  console.log(JSON.stringify({ release, deployment, states: tasks.map((t) => t.State) }));
  process.exit(0); // keep-alive sockets to the fake would otherwise keep node running
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
});
