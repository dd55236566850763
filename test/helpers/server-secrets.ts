import { render } from './helm.js';
import { only, type Container, type Manifest, type PodSpec } from './manifests.js';

// How the rendered server pods get their secret files, as the test/chart/security-*.test.ts files read them:
// the pod's volumes and the container's mounts, the server ConfigMap's variables, and a production render with
// other values.

/** A pod volume: a Secret, ConfigMap, emptyDir or projected service-account token. */
export interface Volume {
  name: string;
  secret?: { secretName: string; defaultMode?: number; items?: Array<{ key: string; path: string }> };
  configMap?: { name: string; items?: Array<{ key: string; path: string }> };
  emptyDir?: { medium?: string; sizeLimit?: string };
  projected?: { sources: Array<{ serviceAccountToken?: { path: string; audience?: string } }> };
}

/** A container's volume mount. */
export interface Mount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
  subPath?: string;
}

/** The volumes of a pod spec. */
export const volumesOf = (spec: PodSpec) => (spec.volumes ?? []) as Volume[];
/** The volume mounts of a container. */
export const mountsOf = (container: Container) => (container.volumeMounts ?? []) as Mount[];
/** The variables of the server ConfigMap. */
export const serverConfig = (manifests: readonly Manifest[]) => only(manifests, 'ConfigMap', 'server').data!;

/** A production render switched to another secrets provider (or other values). */
export const production = (set: Record<string, string>) => render({ ciCase: 'production', set });
