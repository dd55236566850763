import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from './helm.js';
import { toolPath } from './tools.js';

const run = promisify(execFile);

/** The state folder of `scripts/cluster.sh` (same default). */
export const CLUSTER_DIR = process.env.CLUSTER_DIR ?? path.join(os.tmpdir(), 'customer-intelligence-cluster');

/** What `scripts/cluster.sh up` wrote about the running cluster (`$CLUSTER_DIR/cluster.env`). */
export interface ClusterInfo {
  readonly kubeconfig: string;
  readonly kubeVersion: string;
  readonly nodeName: string;
  /** The node's address: pods reach services of the host (the test Postgres) on it. */
  readonly nodeIp: string;
  readonly podCidr: string;
  readonly serviceCidr: string;
}

/** @throws when no cluster was started (`scripts/cluster.sh up`). */
export function clusterInfo(): ClusterInfo {
  const file = path.join(CLUSTER_DIR, 'cluster.env');
  if (!existsSync(file)) throw new Error(`${file} is missing: start the cluster with scripts/cluster.sh up`);
  const env = Object.fromEntries(
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line.includes('='))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
  const get = (key: string) => {
    const value = env[key];
    if (!value) throw new Error(`${file} has no ${key}`);
    return value;
  };
  return {
    kubeconfig: get('KUBECONFIG'),
    kubeVersion: get('KUBE_VERSION'),
    nodeName: get('NODE_NAME'),
    nodeIp: get('NODE_IP'),
    podCidr: get('POD_CIDR'),
    serviceCidr: get('SERVICE_CIDR'),
  };
}

/** Runs `scripts/cluster.sh <command>` with its progress on this process's stderr; rejects on failure. */
export function clusterScript(command: 'up' | 'down' | 'status'): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(REPO_ROOT, 'scripts/cluster.sh'), [command], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`scripts/cluster.sh ${command} exited with ${String(code)}`)),
    );
  });
}

async function runTool(name: 'kubectl' | 'helm', args: readonly string[], input?: string): Promise<string> {
  const all = ['--kubeconfig', clusterInfo().kubeconfig, ...args];
  try {
    const running = run(toolPath(name), all, { maxBuffer: 64 * 1024 * 1024 });
    running.child.stdin?.end(input);
    return (await running).stdout;
  } catch (error) {
    const { stderr, stdout } = error as { stderr?: string; stdout?: string };
    throw new Error(`${name} ${args.join(' ')} failed:\n${stderr ?? ''}${stdout ?? ''}`);
  }
}

/** Runs the pinned kubectl against the local cluster; resolves to its stdout. @throws with its stderr. */
export function kubectl(args: readonly string[], input?: string): Promise<string> {
  return runTool('kubectl', args, input);
}

/** `kubectl ... -o json`, parsed. */
export async function kubectlJson<T>(args: readonly string[]): Promise<T> {
  return JSON.parse(await kubectl([...args, '-o', 'json'])) as T;
}

/** `kubectl apply` of objects given as JSON. */
export async function apply(...objects: readonly object[]): Promise<void> {
  await kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
}

/** Runs the pinned helm against the local cluster (it reads the API server's version itself). */
export function clusterHelm(args: readonly string[]): Promise<string> {
  return runTool('helm', args);
}

/**
 * Polls `probe` every `intervalMs` until it returns something other than `undefined`/`false`.
 *
 * @throws naming `what` (and the last error the probe threw) after `timeoutMs`.
 */
export async function waitUntil<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  { timeoutMs = 120_000, intervalMs = 1_000 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: lastError });
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** A pod as far as the tests read it. */
export interface PodStatus {
  metadata: { name: string; labels?: Record<string, string>; deletionTimestamp?: string };
  spec: { containers: Array<{ name: string; image: string }> };
  status: {
    phase: string;
    podIP?: string;
    conditions?: Array<{ type: string; status: string }>;
    containerStatuses?: Array<{ name: string; ready: boolean; restartCount: number; imageID: string }>;
  };
}

/** True when the pod is Ready and not being deleted. */
export function isReady(pod: PodStatus): boolean {
  return (
    pod.metadata.deletionTimestamp === undefined &&
    pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true
  );
}

/** The pods of `namespace` matching a label selector (`key=value,...`). */
export async function podsOf(namespace: string, selector: string): Promise<PodStatus[]> {
  return (await kubectlJson<{ items: PodStatus[] }>(['get', 'pods', '-n', namespace, '-l', selector])).items;
}
