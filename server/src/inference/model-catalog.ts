import { errors } from '../errors.js';
import type { OnnxModel } from './onnx-model.js';

/** A served model: its loaded versions and the one used when a request pins none. */
export interface ServedModel {
  readonly name: string;
  readonly defaultVersion: string;
  /** Loaded versions by version string. */
  readonly versions: ReadonlyMap<string, OnnxModel>;
}

/**
 * The models this process serves, by name. The start-up code fills it from the model repository;
 * request handlers only read it.
 */
export class ModelCatalog {
  private readonly models = new Map<string, ServedModel>();

  /** Adds (or replaces) a model. */
  set(model: ServedModel): void {
    if (!model.versions.has(model.defaultVersion)) {
      throw new Error(`model ${model.name}: default version ${model.defaultVersion} is not loaded`);
    }
    this.models.set(model.name, model);
  }

  /**
   * The version a request asks for: `version`, or the default when it is empty.
   *
   * @throws AppError NOT_FOUND naming the unknown model or version.
   */
  resolve(name: string, version = ''): OnnxModel {
    const model = this.get(name);
    const chosen = model.versions.get(version === '' ? model.defaultVersion : version);
    if (chosen === undefined) throw errors.modelVersionNotFound(name, version, [...model.versions.keys()]);
    return chosen;
  }

  /**
   * One served model.
   *
   * @throws AppError NOT_FOUND when the model is not served.
   */
  get(name: string): ServedModel {
    const model = this.models.get(name);
    if (model === undefined) throw errors.modelNotFound(name, [...this.models.keys()]);
    return model;
  }

  /** Every served model, sorted by name. */
  list(): ServedModel[] {
    return [...this.models.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Every feature any loaded version needs. */
  requiredFeatures(): Set<string> {
    const features = new Set<string>();
    for (const model of this.models.values()) {
      for (const version of model.versions.values())
        version.featureNames.forEach((name) => features.add(name));
    }
    return features;
  }

  /** Releases every session. Safe to call more than once. */
  async close(): Promise<void> {
    const sessions = this.list().flatMap((model) => [...model.versions.values()]);
    this.models.clear();
    await Promise.all(sessions.map((session) => session.close()));
  }
}
