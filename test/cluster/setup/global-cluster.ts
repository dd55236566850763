/**
 * Vitest global setup of the cluster project: the local cluster (started here when `scripts/cluster.sh up` was
 * not run before, and then stopped at the end unless KEEP_CLUSTER=1), the server image in it (`npm run image`,
 * with a second tag for the upgrade tests), and a Postgres on the host that the pods reach on the node's address,
 * as they would reach a managed database outside the cluster.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { CLUSTER_DIR, clusterInfo, clusterScript, kubectl } from '../../helpers/cluster.js';
import { REPO_ROOT } from '../../helpers/helm.js';
import { IMAGE_TAG, NEXT_IMAGE_TAG } from '../../helpers/release.js';
import { startTestPostgres } from '../../helpers/test-postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Superuser URL of the host's Postgres, as the host reaches it. */
    postgresUrl: string;
  }
}

async function clusterRunning(): Promise<boolean> {
  try {
    clusterInfo();
    await kubectl(['get', '--raw', '/readyz']);
    return true;
  } catch {
    return false;
  }
}

function image(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      path.join(REPO_ROOT, 'scripts/image.sh'),
      ['--tag', IMAGE_TAG, '--tag', NEXT_IMAGE_TAG],
      {
        stdio: ['ignore', 'inherit', 'inherit'],
      },
    );
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`scripts/image.sh exited with ${String(code)}`)),
    );
  });
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const startedHere = !(await clusterRunning());
  if (startedHere) {
    process.stderr.write(`cluster tests: no cluster running in ${CLUSTER_DIR}; starting one\n`);
    await clusterScript('up');
  }
  await image();
  const { nodeIp, podCidr } = clusterInfo();
  const postgres = await startTestPostgres({ address: nodeIp, clientCidrs: [podCidr, `${nodeIp}/32`] });
  project.provide('postgresUrl', postgres.url);
  return async () => {
    await postgres.destroy();
    if (startedHere && process.env.KEEP_CLUSTER !== '1') await clusterScript('down');
  };
}
