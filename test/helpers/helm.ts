import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { toolPath } from './tools.js';

const run = promisify(execFile);

/** The repository root. */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The chart under test. */
export const CHART_DIR = path.join(REPO_ROOT, 'helm/customer-intelligence');

/** Kubernetes version every helm and kubeconform call is pinned to (helm's own default is v1.20). */
export const KUBE_VERSION = '1.34.0';

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

/** Options of {@link templateArgs}. */
export interface RenderOptions {
  /** A `ci/` case to use as the values file. @default "minimal" */
  readonly ciCase?: string;
  /** `--set` overrides, e.g. `{'autoscaling.enabled': 'true'}`. */
  readonly set?: Readonly<Record<string, string>>;
  /** Chart folder. @default {@link CHART_DIR} */
  readonly chartDir?: string;
  /** Kubernetes version. @default {@link KUBE_VERSION} */
  readonly kubeVersion?: string;
  /** Release name. @default {@link RELEASE} */
  readonly release?: string;
}

/** The `helm template` arguments for a render. */
export function templateArgs(options: RenderOptions = {}): string[] {
  const args = [
    'template',
    options.release ?? RELEASE,
    options.chartDir ?? CHART_DIR,
    '--namespace',
    NAMESPACE,
    '--kube-version',
    options.kubeVersion ?? KUBE_VERSION,
    '--values',
    ciValues(options.ciCase ?? 'minimal'),
  ];
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

/** Parses a multi-document YAML stream, dropping empty documents. @throws on YAML errors. */
export function parseManifests(text: string): Manifest[] {
  return parseAllDocuments(text)
    .map((document) => {
      if (document.errors.length > 0) {
        throw new Error(`invalid YAML: ${document.errors.map((e) => e.message).join('; ')}`);
      }
      return document.toJS() as Manifest | null;
    })
    .filter((manifest): manifest is Manifest => manifest !== null);
}

/** The one object of a kind (and optionally a component label). @throws when there is not exactly one. */
export function only<T extends Manifest = Manifest>(
  manifests: readonly Manifest[],
  kind: string,
  component?: string,
): T {
  const found = manifests.filter(
    (m) =>
      m.kind === kind &&
      (component === undefined || m.metadata.labels?.['app.kubernetes.io/component'] === component),
  );
  if (found.length !== 1) throw new Error(`expected one ${kind} ${component ?? ''}, found ${found.length}`);
  return found[0] as T;
}

/** The pod template of a Deployment or Job, or of the Jobs a CronJob creates. */
export function podTemplateOf(manifest: Manifest): PodTemplate {
  if (manifest.kind === 'CronJob') return (manifest as CronJob).spec.jobTemplate.spec.template;
  return (manifest as Workload).spec.template;
}

/** The pod spec of a Deployment, Job or CronJob (template) or of a Pod. */
export function podSpecOf(manifest: Manifest): PodSpec {
  if (manifest.kind === 'Pod') return (manifest as Pod).spec;
  return podTemplateOf(manifest).spec;
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

/** Name of the server container (the alert rules match it in kube-state-metrics' `container` label). */
export const SERVER_CONTAINER = 'customer-intelligence';

/** The server container of the rendered Deployment. */
export function serverContainer(manifests: readonly Manifest[]): Container {
  const container = podSpecOf(only(manifests, 'Deployment')).containers.find(
    (c) => c.name === SERVER_CONTAINER,
  );
  if (container === undefined) throw new Error(`the Deployment has no "${SERVER_CONTAINER}" container`);
  return container;
}

/** Whether a label selector (matchLabels) selects an object with these labels. */
export function matchesSelector(selector: Labels, labels: Labels | undefined): boolean {
  return Object.entries(selector).every(([key, value]) => labels?.[key] === value);
}

/** Labels map. */
export type Labels = Record<string, string>;

/** The parts of Kubernetes objects the chart tests read. */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Labels; annotations?: Labels };
  data?: Record<string, string>;
  automountServiceAccountToken?: boolean;
  spec?: unknown;
}

export interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  runAsGroup?: number;
  fsGroup?: number;
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
  privileged?: boolean;
  capabilities?: { drop?: string[]; add?: string[] };
  seccompProfile?: { type: string };
}

export interface Probe {
  grpc?: { port: number; service?: string };
  httpGet?: unknown;
  exec?: unknown;
  tcpSocket?: unknown;
  periodSeconds?: number;
  failureThreshold?: number;
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string };
    configMapKeyRef?: unknown;
    fieldRef?: { fieldPath: string };
  };
}

export interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  ports?: Array<{ name?: string; containerPort: number; protocol?: string }>;
  env?: EnvVar[];
  envFrom?: Array<{ configMapRef?: { name: string }; secretRef?: { name: string } }>;
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  lifecycle?: { preStop?: { sleep?: { seconds: number }; exec?: unknown } };
  securityContext?: SecurityContext;
  volumeMounts?: Array<{ name: string; mountPath: string }>;
}

export interface PodSpec {
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  securityContext?: SecurityContext;
  terminationGracePeriodSeconds?: number;
  containers: Container[];
  initContainers?: Container[];
  volumes?: Array<{ name: string; emptyDir?: { sizeLimit?: string } }>;
  topologySpreadConstraints?: Array<{ topologyKey: string; labelSelector?: { matchLabels?: Labels } }>;
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
}

export interface Pod extends Manifest {
  spec: PodSpec;
}

/** A pod template: labels, annotations and the pod spec. */
export interface PodTemplate {
  metadata: { labels: Labels; annotations?: Labels };
  spec: PodSpec & { restartPolicy?: string };
}

/** A CronJob: its schedule settings and the Job spec of each run. */
export interface CronJob extends Manifest {
  spec: {
    schedule: string;
    timeZone?: string;
    concurrencyPolicy?: string;
    startingDeadlineSeconds?: number;
    successfulJobsHistoryLimit?: number;
    failedJobsHistoryLimit?: number;
    suspend?: boolean;
    jobTemplate: {
      metadata?: { labels?: Labels };
      spec: {
        completionMode?: string;
        completions?: number;
        parallelism?: number;
        backoffLimit?: number;
        backoffLimitPerIndex?: number;
        maxFailedIndexes?: number;
        activeDeadlineSeconds?: number;
        ttlSecondsAfterFinished?: number;
        podFailurePolicy?: {
          rules: Array<{
            action: string;
            onExitCodes?: { containerName?: string; operator: string; values: number[] };
            onPodConditions?: Array<{ type: string; status: string }>;
          }>;
        };
        template: PodTemplate;
      };
    };
  };
}

export interface Workload extends Manifest {
  spec: {
    replicas?: number;
    selector?: { matchLabels: Labels };
    strategy?: {
      type: string;
      rollingUpdate?: { maxUnavailable?: number | string; maxSurge?: number | string };
    };
    backoffLimit?: number;
    ttlSecondsAfterFinished?: number;
    template: { metadata: { labels: Labels; annotations?: Labels }; spec: PodSpec };
  };
}
