import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Where `scripts/tools.sh` puts the pinned tools (outside the clone). */
export const TOOLS_BIN = path.join(
  process.env.CI_TOOLS_DIR ?? path.join(os.homedir(), '.cache/customer-intelligence/tools'),
  'bin',
);

/**
 * Path of a pinned tool built by `scripts/tools.sh`.
 *
 * @throws naming the command that builds it, when it is missing (tests never silently skip).
 */
export function toolPath(
  name:
    | 'ghz'
    | 'grpc-health-probe'
    | 'grpcurl'
    | 'helm'
    | 'jaeger'
    | 'kubeconform'
    | 'kubectl'
    | 'perf_analyzer'
    | 'promtool',
): string {
  const file = path.join(TOOLS_BIN, name);
  // kubectl is one of the Kubernetes binaries the local cluster's entry builds.
  if (!existsSync(file))
    throw new Error(`${file} is missing; run scripts/tools.sh ${name === 'kubectl' ? 'cluster' : name}`);
  return file;
}
