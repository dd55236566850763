import { parseAllDocuments } from 'yaml';

// The Kubernetes objects a chart render is made of: parsing a render, finding an object or its pod spec,
// and the parts of each kind the chart tests read.

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

/** The one object of a kind whose name ends with `suffix` (e.g. "-test-score"). @throws unless exactly one. */
export function named<T extends Manifest = Manifest>(
  manifests: readonly Manifest[],
  kind: string,
  suffix: string,
): T {
  const found = manifests.filter((m) => m.kind === kind && m.metadata.name.endsWith(suffix));
  if (found.length !== 1) throw new Error(`expected one ${kind} named *${suffix}, found ${found.length}`);
  return found[0] as T;
}

/** The objects of a kind, in render order. */
export function ofKind(manifests: readonly Manifest[], kind: string): Manifest[] {
  return manifests.filter((m) => m.kind === kind);
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
