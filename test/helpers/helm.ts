import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll } from 'vitest';
import { parseManifests, type Manifest } from './manifests.js';
import { toolPath } from './tools.js';

// Running the pinned helm on the chart: its `ci/` values cases, `helm template` arguments and renders.

const run = promisify(execFile);

/** The repository root. */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The chart under test. */
export const CHART_DIR = path.join(REPO_ROOT, 'helm/customer-intelligence');

/** Kubernetes version every helm and kubeconform call is pinned to (helm's own default is v1.20). */
export const KUBE_VERSION = '1.34.0';

/** What helm prints when values fail values.schema.json. */
export const SCHEMA_ERROR = "values don't meet the specifications of the schema";

/** Release name and namespace of every render. */
export const RELEASE = 'ci';
export const NAMESPACE = 'ml';

/** The values cases in the chart's `ci/` folder, by name (`minimal` for `ci/minimal-values.yaml`). */
export const CI_CASES: readonly string[] = readdirSync(path.join(CHART_DIR, 'ci'))
  .filter((name) => name.endsWith('-values.yaml'))
  .map((name) => name.replace(/-values\.yaml$/, ''))
  .sort();

/** Path of a `ci/` values file. */
export function ciValues(name: string): string {
  return path.join(CHART_DIR, 'ci', `${name}-values.yaml`);
}

/** What a helm run printed. */
export interface HelmOutput {
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs helm with the pinned binary.
 *
 * @throws an Error whose message holds helm's stderr, when helm exits non-zero.
 */
export async function helm(args: readonly string[]): Promise<HelmOutput> {
  try {
    return await run(toolPath('helm'), [...args], { maxBuffer: 32 * 1024 * 1024 });
  } catch (error) {
    const { stderr, stdout } = error as { stderr?: string; stdout?: string };
    throw new Error(`helm ${args.join(' ')} failed:\n${stderr ?? ''}${stdout ?? ''}`);
  }
}

/** Runs helm expecting it to fail; resolves to its stderr. @throws when helm succeeds. */
export async function helmFailure(args: readonly string[]): Promise<string> {
  try {
    await run(toolPath('helm'), [...args], { maxBuffer: 32 * 1024 * 1024 });
  } catch (error) {
    return (error as { stderr?: string }).stderr ?? '';
  }
  throw new Error(`helm ${args.join(' ')} succeeded, expected a failure`);
}

/**
 * The CRD APIs every render passes as `--api-versions`, as on a cluster with the prometheus-operator and Gateway
 * API (v1.1+) CRDs: without them the chart refuses its ServiceMonitor, PodMonitor, PrometheusRule and GRPCRoute.
 * The group/version alone is what `helm template` callers usually pass; GRPCRoute needs its kind-qualified entry.
 */
export const CRD_API_VERSIONS: readonly string[] = [
  'monitoring.coreos.com/v1',
  'gateway.networking.k8s.io/v1/GRPCRoute',
];

/** Options of {@link templateArgs}. */
export interface RenderOptions {
  /** A `ci/` case to use as the values file. @default "minimal" */
  readonly ciCase?: string;
  /** More values files, after the case's. */
  readonly valuesFiles?: readonly string[];
  /** `--set` overrides, e.g. `{'autoscaling.enabled': 'true'}`. */
  readonly set?: Readonly<Record<string, string>>;
  /** Chart folder. @default {@link CHART_DIR} */
  readonly chartDir?: string;
  /** Kubernetes version. @default {@link KUBE_VERSION} */
  readonly kubeVersion?: string;
  /** Release name. @default {@link RELEASE} */
  readonly release?: string;
  /** Namespace. @default {@link NAMESPACE} */
  readonly namespace?: string;
  /** `--api-versions` entries (`[]`: only the built-in APIs, as on a cluster without CRDs). @default {@link CRD_API_VERSIONS} */
  readonly apiVersions?: readonly string[];
}

/** The `helm template` arguments for a render. */
export function templateArgs(options: RenderOptions = {}): string[] {
  const args = [
    'template',
    options.release ?? RELEASE,
    options.chartDir ?? CHART_DIR,
    '--namespace',
    options.namespace ?? NAMESPACE,
    '--kube-version',
    options.kubeVersion ?? KUBE_VERSION,
    '--values',
    ciValues(options.ciCase ?? 'minimal'),
  ];
  for (const file of options.valuesFiles ?? []) args.push('--values', file);
  for (const api of options.apiVersions ?? CRD_API_VERSIONS) args.push('--api-versions', api);
  for (const [key, value] of Object.entries(options.set ?? {})) args.push('--set', `${key}=${value}`);
  return args;
}

/** `helm template` output as text. */
export async function renderText(options: RenderOptions = {}): Promise<string> {
  return (await helm(templateArgs(options))).stdout;
}

/** `helm template` output parsed into objects (hooks and the test pod included). */
export async function render(options: RenderOptions = {}): Promise<Manifest[]> {
  return parseManifests(await renderText(options));
}

/**
 * Renders every `ci/` case once, before the calling test file's tests; returns the lookup by case name.
 */
export function renderCiCasesOnce(): (ciCase: string) => Manifest[] {
  const rendered = new Map<string, Manifest[]>();
  beforeAll(async () => {
    for (const ciCase of CI_CASES) rendered.set(ciCase, await render({ ciCase }));
  });
  return (ciCase) => {
    const manifests = rendered.get(ciCase);
    if (manifests === undefined) throw new Error(`ci case ${ciCase} was not rendered`);
    return manifests;
  };
}

/**
 * `--set-json` arguments for values `--set` cannot type exactly (lists of objects; strings such as "1" that
 * `--set` would make numbers), to append to {@link templateArgs}.
 */
export function setJsonArgs(values: Readonly<Record<string, unknown>>): string[] {
  return Object.entries(values).flatMap(([key, value]) => ['--set-json', `${key}=${JSON.stringify(value)}`]);
}

/** `helm template` output parsed into objects, with `json` values given as `--set-json` (see {@link setJsonArgs}). */
export async function renderWithJson(
  json: Readonly<Record<string, unknown>>,
  options: RenderOptions = {},
): Promise<Manifest[]> {
  return parseManifests((await helm([...templateArgs(options), ...setJsonArgs(json)])).stdout);
}
