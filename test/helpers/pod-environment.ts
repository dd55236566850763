import { only, podSpecOf, type Container, type Manifest } from './manifests.js';

/** A reference to one key of a Secret, as an env entry's `secretKeyRef` holds it. */
export interface SecretKeyRef {
  readonly name: string;
  readonly key: string;
}

/**
 * The environment a rendered container starts with: the ConfigMaps it loads with `envFrom` (from the same
 * rendering), then its `env` entries, later ones winning as in Kubernetes. A `secretKeyRef` becomes
 * `secretValue(ref, variable)`: the Secrets are not part of the chart, so the caller supplies fake values.
 * Likewise a downward-API `fieldRef` becomes `fieldValue(fieldPath, variable)` (the pod does not exist).
 *
 * @throws when an `envFrom` names a Secret or a ConfigMap the rendering does not contain, or for a
 *   `fieldRef` when no `fieldValue` is given.
 */
export function containerEnvironment(
  manifests: readonly Manifest[],
  container: Container,
  secretValue: (ref: SecretKeyRef, variable: string) => string,
  fieldValue?: (fieldPath: string, variable: string) => string,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    const name = source.configMapRef?.name;
    const configMap = manifests.find((m) => m.kind === 'ConfigMap' && m.metadata.name === name);
    if (name === undefined || configMap === undefined) {
      throw new Error(`envFrom ${JSON.stringify(source)} is not a ConfigMap of this rendering`);
    }
    Object.assign(env, configMap.data);
  }
  for (const entry of container.env ?? []) {
    const ref = entry.valueFrom?.secretKeyRef;
    const field = entry.valueFrom?.fieldRef;
    if (entry.value !== undefined) env[entry.name] = entry.value;
    else if (ref !== undefined) env[entry.name] = secretValue(ref, entry.name);
    else if (field !== undefined && fieldValue !== undefined) {
      env[entry.name] = fieldValue(field.fieldPath, entry.name);
    } else throw new Error(`env ${entry.name}: neither a value, a secretKeyRef nor a resolvable fieldRef`);
  }
  return env;
}

/** The first container of the one object of `kind` (and component) in a rendering. */
export function mainContainer(manifests: readonly Manifest[], kind: string, component?: string): Container {
  return podSpecOf(only(manifests, kind, component)).containers[0]!;
}
