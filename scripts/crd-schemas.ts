/**
 * Generates strict standalone JSON schemas for the custom resources the chart renders (the
 * prometheus-operator's `ServiceMonitor`, `PodMonitor` and `PrometheusRule`, `monitoring.coreos.com/v1`, and
 * the Gateway API's `GRPCRoute`, `gateway.networking.k8s.io/v1`) from the CRD manifests that ship in their Go
 * modules (prometheus-operator's `example/prometheus-operator-crd/`, gateway-api's `config/crd/standard/`), so
 * kubeconform validates them offline as strictly as the Kubernetes kinds (see `k8s-schemas.ts`).
 *
 * Layout (what `kubeconform -schema-location '<dir>/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json'`
 * reads): `<root>/crds/prometheus-operator-<version>+gateway-api-<version>/monitoring.coreos.com/servicemonitor_v1.json`.
 *
 * What the conversion of each served version's `openAPIV3Schema` does, after kubeconform's
 * `openapi2jsonschema.py`:
 * - strict: `additionalProperties: false` on every object schema that lists `properties` (the root too),
 *   unless it is marked `x-kubernetes-preserve-unknown-fields` (the API server keeps unknown fields there);
 * - `apiVersion` and `kind` are pinned to the CRD's group/version/kind, and `metadata` (only `type: object`
 *   in a CRD) is the Kubernetes `ObjectMeta` schema of the generated Kubernetes schemas, so a misspelt
 *   metadata field fails too;
 * - an optional field, or one marked `nullable`, also accepts `null` (the API server reads it as unset);
 * - descriptions, defaults and `x-kubernetes-*` annotations (CEL rules included) are dropped.
 *
 * Usage: `tsx scripts/crd-schemas.ts [--force]`; prints the folder it wrote or found. The root is the
 * Kubernetes schemas' root (`K8S_SCHEMAS_DIR`, default `~/.cache/customer-intelligence/k8s-schemas`).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { DEFAULT_KUBERNETES_VERSION, defaultSchemasRoot, ensureKubernetesSchemas } from './k8s-schemas.js';
import { goModuleDir, isCurrent, writeSchemaFolder } from './schema-cache.js';

/**
 * The prometheus-operator release whose CRDs the chart is validated against: the one place it is pinned.
 * The Go module ships the CRDs as plain YAML (the `pkg/apis/monitoring` submodule holds only Go types).
 */
export const PROMETHEUS_OPERATOR_VERSION = 'v0.85.0';

/** The CRD manifests converted, relative to the prometheus-operator module: only the kinds the chart renders. */
export const PROMETHEUS_OPERATOR_CRDS: readonly string[] = [
  'example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml',
  'example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml',
  'example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml',
];

/**
 * The Gateway API release whose standard-channel CRDs the chart is validated against: the one place it is
 * pinned. v1.7.0's go.mod needs Go 1.27, which `go mod download` refuses under an older toolchain.
 */
export const GATEWAY_API_VERSION = 'v1.6.3';

/** The Gateway API CRD manifests converted, relative to its module: only the kinds the chart renders. */
export const GATEWAY_API_CRDS: readonly string[] = [
  'config/crd/standard/gateway.networking.k8s.io_grpcroutes.yaml',
];

/** A Go module holding CRD manifests, and the manifests converted from it. */
interface CrdSource {
  /** Short name, for the folder name. */
  readonly name: string;
  readonly module: string;
  readonly version: string;
  /** Manifest paths relative to the module. */
  readonly files: readonly string[];
}

/** Every CRD source, in the order their kinds are written (a later one never replaces an earlier file). */
const CRD_SOURCES: readonly CrdSource[] = [
  {
    name: 'prometheus-operator',
    module: 'github.com/prometheus-operator/prometheus-operator',
    version: PROMETHEUS_OPERATOR_VERSION,
    files: PROMETHEUS_OPERATOR_CRDS,
  },
  {
    name: 'gateway-api',
    module: 'sigs.k8s.io/gateway-api',
    version: GATEWAY_API_VERSION,
    files: GATEWAY_API_CRDS,
  },
];

/** Bump when the conversion changes: folders stamped with an older revision are regenerated. */
const CONVERTER_REVISION = 1;

/** A JSON Schema node as found in a CRD (loosely typed: it is data). */
type Schema = { [keyword: string]: unknown };

/** The parts of a CustomResourceDefinition the conversion reads. */
interface CustomResourceDefinition {
  kind: string;
  spec: {
    group: string;
    names: { kind: string };
    versions: Array<{ name: string; served: boolean; schema?: { openAPIV3Schema?: Schema } }>;
  };
}

/** Options of {@link ensureCrdSchemas}. */
export interface EnsureCrdSchemasOptions {
  /** The schemas' root, shared with the Kubernetes schemas. @default {@link defaultSchemasRoot} */
  readonly root?: string;
  /** Kubernetes version whose `ObjectMeta` validates `metadata`. @default {@link DEFAULT_KUBERNETES_VERSION} */
  readonly kubernetesVersion?: string;
  /** Regenerate even if the folder exists. @default false */
  readonly force?: boolean;
}

/** What {@link ensureCrdSchemas} found or made. */
export interface CrdSchemaSet {
  /** The folder holding `<group>/<kind>_<version>.json`. */
  readonly dir: string;
  /** kubeconform's `-schema-location` template for that folder. */
  readonly location: string;
  /** False when the cached folder was reused. */
  readonly generated: boolean;
}

/**
 * Returns the CRD schema folder, generating it first (and the Kubernetes schemas it takes `ObjectMeta`
 * from) when it is missing or stale. Safe to call from several processes at once.
 *
 * @throws when `go` is not installed, the module cannot be downloaded, or a CRD has no served schema.
 */
export async function ensureCrdSchemas(options: EnsureCrdSchemasOptions = {}): Promise<CrdSchemaSet> {
  const root = options.root ?? defaultSchemasRoot();
  const kubernetesVersion = options.kubernetesVersion ?? DEFAULT_KUBERNETES_VERSION;
  const dir = path.join(
    root,
    'crds',
    CRD_SOURCES.map((source) => `${source.name}-${source.version}`).join('+'),
  );
  const location = `${dir}/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json`;
  const stamp =
    CRD_SOURCES.map((source) => `${source.module}@${source.version} ${source.files.join(' ')}`).join(', ') +
    `, ObjectMeta of Kubernetes ${kubernetesVersion}, converter revision ${CONVERTER_REVISION}\n`;
  if (!options.force && (await isCurrent(dir, stamp))) return { dir, location, generated: false };

  const kubernetes = await ensureKubernetesSchemas({ version: kubernetesVersion, root });
  const configMap = JSON.parse(await readFile(path.join(kubernetes.dir, 'configmap-v1.json'), 'utf8')) as {
    properties: { metadata: Schema };
  };
  const files = new Map<string, Schema>();
  for (const source of CRD_SOURCES) {
    const moduleDir = await goModuleDir(`${source.module}@${source.version}`, `the ${source.name} CRDs`);
    for (const file of source.files) {
      for (const crd of await readCrds(path.join(moduleDir, file))) {
        for (const [name, schema] of convertCrd(crd, configMap.properties.metadata)) files.set(name, schema);
      }
    }
  }
  await writeSchemaFolder(dir, files, stamp);
  return { dir, location, generated: true };
}

async function readCrds(file: string): Promise<CustomResourceDefinition[]> {
  const crds = parseAllDocuments(await readFile(file, 'utf8'))
    .map((document) => document.toJS() as CustomResourceDefinition | null)
    .filter((d): d is CustomResourceDefinition => d?.kind === 'CustomResourceDefinition');
  if (crds.length === 0) throw new Error(`${file} holds no CustomResourceDefinition`);
  return crds;
}

/** One strict schema per served version of a CRD, by file name (`<group>/<kind>_<version>.json`). */
export function convertCrd(crd: CustomResourceDefinition, objectMeta: Schema): Map<string, Schema> {
  const { group, names } = crd.spec;
  const files = new Map<string, Schema>();
  for (const version of crd.spec.versions.filter((v) => v.served)) {
    const openApi = version.schema?.openAPIV3Schema;
    if (openApi === undefined) throw new Error(`${names.kind} ${version.name} has no openAPIV3Schema`);
    const root = convert(openApi);
    root.properties = {
      ...(root.properties as Record<string, Schema>),
      apiVersion: { type: 'string', enum: [`${group}/${version.name}`] },
      kind: { type: 'string', enum: [names.kind] },
      metadata: objectMeta,
    };
    root.additionalProperties = false;
    files.set(`${group}/${names.kind.toLowerCase()}_${version.name}.json`, {
      $schema: 'http://json-schema.org/draft-04/schema#',
      ...root,
    });
  }
  return files;
}

/** Keywords that carry no validation here (`nullable` is folded into `type`). */
function isDropped(keyword: string): boolean {
  return (
    keyword === 'description' ||
    keyword === 'default' ||
    keyword === 'nullable' ||
    keyword.startsWith('x-kubernetes-')
  );
}

function convert(node: Schema): Schema {
  const out: Schema = {};
  for (const [keyword, value] of Object.entries(node)) {
    if (isDropped(keyword)) continue;
    if (keyword === 'properties') {
      const required = new Set((node.required as string[] | undefined) ?? []);
      out.properties = Object.fromEntries(
        Object.entries(value as Record<string, Schema>).map(([name, property]) => {
          const converted = convert(property);
          return [name, required.has(name) ? converted : allowNull(converted)];
        }),
      );
    } else if (keyword === 'items' || keyword === 'not') {
      out[keyword] = convert(value as Schema);
    } else if (keyword === 'additionalProperties') {
      out[keyword] = typeof value === 'object' && value !== null ? convert(value as Schema) : value;
    } else if (keyword === 'allOf' || keyword === 'anyOf' || keyword === 'oneOf') {
      out[keyword] = (value as Schema[]).map((item) => convert(item));
    } else {
      out[keyword] = value;
    }
  }
  if (node.nullable === true) Object.assign(out, allowNull(out));
  const preserveUnknown = node['x-kubernetes-preserve-unknown-fields'] === true;
  if (out.properties !== undefined && out.additionalProperties === undefined && !preserveUnknown)
    out.additionalProperties = false;
  return out;
}

/** An optional field may be `null`: the API server reads it as unset. */
function allowNull(schema: Schema): Schema {
  const type = schema.type;
  if (typeof type === 'string') return { ...schema, type: [type, 'null'] };
  if (Array.isArray(schema.anyOf))
    return { ...schema, anyOf: [...(schema.anyOf as Schema[]), { type: 'null' }] };
  return schema;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const started = performance.now();
  const set = await ensureCrdSchemas({
    kubernetesVersion: process.env.K8S_SCHEMAS_VERSION ?? DEFAULT_KUBERNETES_VERSION,
    force: process.argv.includes('--force'),
  });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`${set.generated ? 'generated' : 'cached'} ${set.dir} (${seconds} s)`);
}
