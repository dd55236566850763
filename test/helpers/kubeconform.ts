import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { toolPath } from './tools.js';

const run = promisify(execFile);

/** One resource in kubeconform's JSON report. */
export interface KubeconformResource {
  readonly kind: string;
  readonly name: string;
  readonly version: string;
  /** `statusValid`, `statusInvalid`, `statusError` or `statusSkipped`. */
  readonly status: string;
  readonly msg?: string;
}

/** kubeconform's verdict on a YAML stream. */
export interface KubeconformReport {
  readonly exitCode: number;
  readonly resources: readonly KubeconformResource[];
  readonly summary: { valid: number; invalid: number; errors: number; skipped: number };
}

/**
 * Validates a YAML stream strictly against the offline schemas only: `schemaLocations` are kubeconform
 * `-schema-location` values tried in order (the Kubernetes schema root, then templates such as
 * `<dir>/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json` for custom resources). There is no
 * default location, so kubeconform never downloads; a kind without a schema is an error, not a skip.
 */
export async function kubeconform(
  yamlText: string,
  schemaLocations: readonly string[],
  kubernetesVersion: string,
): Promise<KubeconformReport> {
  if (schemaLocations.length === 0) throw new Error('kubeconform needs at least one schema location');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'kubeconform-'));
  const file = path.join(dir, 'manifests.yaml');
  await writeFile(file, yamlText);
  const args = [
    '-strict',
    '-summary',
    '-output',
    'json',
    ...schemaLocations.flatMap((location) => ['-schema-location', location]),
    '-kubernetes-version',
    kubernetesVersion,
    file,
  ];
  let stdout: string;
  let exitCode = 0;
  try {
    ({ stdout } = await run(toolPath('kubeconform'), args, { maxBuffer: 16 * 1024 * 1024 }));
  } catch (error) {
    const failure = error as { code?: number; stdout?: string; stderr?: string };
    if (typeof failure.code !== 'number' || !failure.stdout) throw error;
    ({ stdout } = failure as { stdout: string });
    exitCode = failure.code;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const report = JSON.parse(stdout) as Omit<KubeconformReport, 'exitCode'>;
  return { exitCode, resources: report.resources ?? [], summary: report.summary };
}
