import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { kubectl } from '../helpers/cluster.js';
import { REPO_ROOT } from '../helpers/helm.js';

/**
 * scripts/cluster.sh's failure path, next to the running cluster: a second `up` in another state folder finds
 * etcd's port taken once its containerd runs; it must say which component failed and why and exit non-zero,
 * and its `down` must stop what it started, and nothing of the running cluster, which keeps answering.
 */
function script(command: 'up' | 'down', clusterDir: string): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      path.join(REPO_ROOT, 'scripts/cluster.sh'),
      [command],
      { env: { ...process.env, CLUSTER_DIR: clusterDir }, maxBuffer: 16 * 1024 * 1024 },
      (error, _stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stderr }),
    );
  });
}

/** Processes whose command line names `dir` (every process a cluster starts names its state folder). */
function processesOf(dir: string): string[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .flatMap((pid) => {
      try {
        const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
        return command.includes(dir) ? [`${pid} ${command}`] : [];
      } catch {
        return []; // it exited meanwhile
      }
    });
}

describe('scripts/cluster.sh', () => {
  it('fails an up that cannot start a component, naming it, and its down removes only what it started', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ci-second-cluster-'));
    let down: { code: number; stderr: string } | undefined;
    try {
      const up = await script('up', dir);
      process.stdout.write(
        `second up: exit ${up.code}; ${up.stderr.split('\n').filter(Boolean).slice(-3).join(' | ')}\n`,
      );
      expect(up.code).not.toBe(0);
      expect(up.stderr).toMatch(
        /cluster: etcd cannot start: port 2379 is already in use \(.*etcd.*\); another cluster\?/,
      );
      expect(processesOf(dir).length).toBeGreaterThan(0); // its containerd
      down = await script('down', dir);
    } finally {
      down ??= await script('down', dir);
    }
    expect(down.code).toBe(0);
    expect(processesOf(dir)).toEqual([]);
    expect(existsSync(dir)).toBe(false);
    // The running cluster was not touched: API, node and its bridge still there.
    expect(await kubectl(['get', '--raw', '/readyz'])).toBe('ok');
    const ready = await kubectl([
      'get',
      'nodes',
      '-o',
      'jsonpath={.items[0].status.conditions[?(@.type=="Ready")].status}',
    ]);
    expect(ready).toBe('True');
    expect(() => execFileSync('ip', ['link', 'show', 'ci-cni0'])).not.toThrow();
  });
});
