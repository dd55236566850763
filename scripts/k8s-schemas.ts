/**
 * Generates kubeconform's "standalone-strict" JSON schemas for one Kubernetes version from the OpenAPI v3
 * spec that ships inside the `k8s.io/kubernetes` Go module (`api/openapi-spec/v3/*.json`), so the chart can
 * be validated offline. The Go module cache holds the source; the output is cached outside the clone and
 * reused while it exists.
 *
 * Layout (what `kubeconform -schema-location <root> -kubernetes-version 1.34.0 -strict` reads):
 * `<root>/v1.34.0-standalone-strict/<kind>[-<group>]-<version>.json`, e.g. `deployment-apps-v1.json`,
 * `service-v1.json`, `networkpolicy-networking-v1.json` (group = first label of the API group).
 *
 * What the conversion does, after kubeconform's `openapi2jsonschema`:
 * - standalone: every `$ref` is inlined; a type that contains itself (only `JSONSchemaProps`) is kept once
 *   in the file's own `definitions` and referenced locally, so each file still stands alone;
 * - strict: `additionalProperties: false` on every object schema that lists `properties`, so unknown
 *   fields fail;
 * - `apiVersion` and `kind` are pinned to the file's group/version/kind;
 * - an optional field also accepts `null` (the API server treats `null` as unset);
 * - descriptions, defaults and `x-kubernetes-*` annotations are dropped (they do not validate anything).
 *
 * Usage: `tsx scripts/k8s-schemas.ts [--force]`; prints the folder it wrote or found.
 * Environment: `K8S_SCHEMAS_DIR` (root; default `<parent of CI_TOOLS_DIR>/k8s-schemas`, i.e.
 * `~/.cache/customer-intelligence/k8s-schemas`), `K8S_SCHEMAS_VERSION` (default 1.34.0).
 */
import { readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { goModuleDir, isCurrent, writeSchemaFolder } from './schema-cache.js';

/** The Kubernetes version the chart is validated against (without the leading `v`). */
export const DEFAULT_KUBERNETES_VERSION = '1.34.0';

/** A JSON Schema node as found in the OpenAPI spec (loosely typed: it is data). */
type Schema = { [keyword: string]: unknown };

interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

/** Where the generated schemas live: `K8S_SCHEMAS_DIR`, else next to the pinned tools' folder. */
export function defaultSchemasRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.K8S_SCHEMAS_DIR) return path.resolve(env.K8S_SCHEMAS_DIR);
  const toolsDir = env.CI_TOOLS_DIR ?? path.join(os.homedir(), '.cache/customer-intelligence/tools');
  return path.join(path.dirname(path.resolve(toolsDir)), 'k8s-schemas');
}

/** Options of {@link ensureKubernetesSchemas}. */
export interface EnsureSchemasOptions {
  /** Kubernetes version without `v`. @default {@link DEFAULT_KUBERNETES_VERSION} */
  readonly version?: string;
  /** Schema root passed to kubeconform's `-schema-location`. @default {@link defaultSchemasRoot} */
  readonly root?: string;
  /** Regenerate even if the folder exists. @default false */
  readonly force?: boolean;
}

/** What {@link ensureKubernetesSchemas} found or made. */
export interface SchemaSet {
  /** The `-schema-location` root. */
  readonly root: string;
  /** The versioned folder holding the files. */
  readonly dir: string;
  /** False when the cached folder was reused. */
  readonly generated: boolean;
}

/** Bump when the conversion changes: folders stamped with an older revision are regenerated. */
const CONVERTER_REVISION = 1;

/**
 * Returns the schema folder for `version`, generating it first when it is missing or stale.
 * Safe to call from several processes at once: each writes a private folder and renames it into place.
 *
 * @throws when `go` is not installed, the module cannot be downloaded, or the spec has no v3 files.
 */
export async function ensureKubernetesSchemas(options: EnsureSchemasOptions = {}): Promise<SchemaSet> {
  const version = options.version ?? DEFAULT_KUBERNETES_VERSION;
  const root = options.root ?? defaultSchemasRoot();
  const dir = path.join(root, `v${version}-standalone-strict`);
  const stamp = `k8s.io/kubernetes@v${version} api/openapi-spec/v3, converter revision ${CONVERTER_REVISION}\n`;
  if (!options.force && (await isCurrent(dir, stamp))) return { root, dir, generated: false };

  const specDir = path.join(
    await goModuleDir(`k8s.io/kubernetes@v${version}`, 'the Kubernetes spec'),
    'api/openapi-spec/v3',
  );
  await writeSchemaFolder(dir, convertSpec(await readComponents(specDir)), stamp);
  return { root, dir, generated: true };
}

/** Merges `components.schemas` of every group-version file (shared types repeat, identically). */
async function readComponents(specDir: string): Promise<Map<string, Schema>> {
  const names = (await readdir(specDir)).filter((name) => name.endsWith('_openapi.json'));
  if (names.length === 0) throw new Error(`no OpenAPI v3 files in ${specDir}`);
  const components = new Map<string, Schema>();
  for (const name of names) {
    const spec = JSON.parse(await readFile(path.join(specDir, name), 'utf8')) as {
      components?: { schemas?: Record<string, Schema> };
    };
    for (const [title, schema] of Object.entries(spec.components?.schemas ?? {})) {
      if (!components.has(title)) components.set(title, schema);
    }
  }
  return components;
}

/** kubeconform's file name for a kind: `deployment-apps-v1.json`, `service-v1.json`. */
function schemaFileName({ group, version, kind }: GroupVersionKind): string {
  const groupPart = group === '' ? '' : `-${group.split('.')[0]!.toLowerCase()}`;
  return `${kind.toLowerCase()}${groupPart}-${version.toLowerCase()}.json`;
}

/** One standalone-strict schema per group/version/kind found in the spec, by file name. */
function convertSpec(components: ReadonlyMap<string, Schema>): Map<string, Schema> {
  const files = new Map<string, Schema>();
  for (const [title, definition] of components) {
    const kinds = definition['x-kubernetes-group-version-kind'] as GroupVersionKind[] | undefined;
    for (const gvk of kinds ?? []) {
      const name = schemaFileName(gvk);
      if (!files.has(name)) files.set(name, standaloneSchema(components, title, gvk));
    }
  }
  return files;
}

/** Keywords that carry no validation; dropping them keeps the inlined files small. */
function isDropped(keyword: string): boolean {
  return keyword === 'description' || keyword === 'default' || keyword.startsWith('x-kubernetes-');
}

function standaloneSchema(
  components: ReadonlyMap<string, Schema>,
  title: string,
  gvk: GroupVersionKind,
): Schema {
  const recursive = new Set<string>();
  const convert = (node: Schema, stack: readonly string[]): Schema => {
    const ref = node.$ref;
    if (typeof ref === 'string') {
      const target = ref.replace('#/components/schemas/', '');
      if (stack.includes(target)) {
        recursive.add(target);
        return { $ref: `#/definitions/${target}` };
      }
      const resolved = components.get(target);
      if (resolved === undefined) throw new Error(`${title}: unresolved $ref ${ref}`);
      return convert(resolved, [...stack, target]);
    }
    // The v3 spec wraps references as `allOf: [{$ref}]` next to a description/default; unwrap them.
    const allOf = node.allOf;
    if (
      Array.isArray(allOf) &&
      allOf.length === 1 &&
      node.properties === undefined &&
      node.type === undefined
    ) {
      return convert(allOf[0] as Schema, stack);
    }
    const out: Schema = {};
    for (const [keyword, value] of Object.entries(node)) {
      if (isDropped(keyword)) continue;
      if (keyword === 'format' && value === 'int-or-string') continue; // `oneOf` integer/string stays
      if (keyword === 'properties') {
        const required = new Set((node.required as string[] | undefined) ?? []);
        out.properties = Object.fromEntries(
          Object.entries(value as Record<string, Schema>).map(([name, property]) => {
            const converted = convert(property, stack);
            return [name, required.has(name) ? converted : allowNull(converted)];
          }),
        );
      } else if (keyword === 'items' || keyword === 'not') {
        out[keyword] = convert(value as Schema, stack);
      } else if (keyword === 'additionalProperties') {
        out[keyword] = typeof value === 'object' && value !== null ? convert(value as Schema, stack) : value;
      } else if (keyword === 'allOf' || keyword === 'anyOf' || keyword === 'oneOf') {
        out[keyword] = (value as Schema[]).map((item) => convert(item, stack));
      } else {
        out[keyword] = value;
      }
    }
    if (out.properties !== undefined && out.additionalProperties === undefined)
      out.additionalProperties = false;
    return out;
  };

  const root = convert(components.get(title)!, [title]);
  const apiVersion = gvk.group === '' ? gvk.version : `${gvk.group}/${gvk.version}`;
  const properties = (root.properties ?? {}) as Record<string, Schema>;
  properties.apiVersion = { type: 'string', enum: [apiVersion] };
  properties.kind = { type: 'string', enum: [gvk.kind] };
  root.properties = properties;

  // Self-containing types (recursion) live once in `definitions`; converting one may reveal others.
  const definitions: Record<string, Schema> = {};
  for (
    let pending = [...recursive];
    pending.length > 0;
    pending = [...recursive].filter((n) => !(n in definitions))
  ) {
    for (const name of pending) definitions[name] = convert(components.get(name)!, [name]);
  }
  return {
    $schema: 'http://json-schema.org/draft-04/schema#',
    ...root,
    ...(Object.keys(definitions).length > 0 ? { definitions } : {}),
  };
}

/** An optional field may be `null`: the API server reads it as unset. */
function allowNull(schema: Schema): Schema {
  const type = schema.type;
  if (typeof type === 'string') return { ...schema, type: [type, 'null'] };
  if (Array.isArray(schema.oneOf))
    return { ...schema, oneOf: [...(schema.oneOf as Schema[]), { type: 'null' }] };
  return schema;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const started = performance.now();
  const set = await ensureKubernetesSchemas({
    version: process.env.K8S_SCHEMAS_VERSION ?? DEFAULT_KUBERNETES_VERSION,
    force: process.argv.includes('--force'),
  });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`${set.generated ? 'generated' : 'cached'} ${set.dir} (${seconds} s)`);
}
