import pg from 'pg';
import type { ModelCatalog } from '../inference/model-catalog.js';
import {
  DEFAULT_VALIDATION_LIMITS,
  ModelValidator,
  type ModelValidationLimits,
  type ValidationOutcome,
} from '../inference/model-validation.js';
import { ModelLoadError, OnnxModel } from '../inference/onnx-model.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { ModelRegistry, RegistryModel } from './model-registry.js';

/** Options for {@link RegistrySync}. */
export interface RegistrySyncOptions {
  /** Besides the default and the previous version, this many of the newest versions stay loaded. */
  readonly warmVersions: number;
  /**
   * At most this many other versions of a model stay loaded after a request pinned them; loading one more
   * unloads the least recently pinned. Every loaded version holds an ONNX Runtime session.
   */
  readonly pinnedVersions: number;
  /**
   * Limits of the isolated check a version passes before it is loaded in this process
   * (`MODEL_VALIDATION_TIMEOUT_MS`, `MODEL_VALIDATION_MAX_RSS_MB`). @default {@link DEFAULT_VALIDATION_LIMITS}
   */
  readonly validation?: ModelValidationLimits;
}

/** Releasing a session waits this long, so calls that resolved it just before a swap can finish. */
const RELEASE_DELAY_MS = 30_000;

/**
 * Keeps this replica's model catalog equal to the registry.
 *
 * At start it loads every model (default, previous and the newest `warmVersions`); then it LISTENs on
 * `model_registry` and re-reads a model when notified. An older version a request pins is loaded on
 * demand (the catalog asks) and stays loaded until the registry drops or fails it, or until `pinnedVersions`
 * more recently pinned ones push it out.
 * A new default is loaded and warmed *before* the catalog switches to it (calls in flight keep the
 * version they resolved), the previous default stays loaded so a rollback is a pointer flip, and a
 * version that fails to load is marked failed in the registry while the current default keeps serving.
 * If the listening connection drops, it reconnects with backoff and re-reads everything, because
 * notifications sent meanwhile are lost.
 *
 * No version is loaded in this process before it passed the isolated check of `model-validation.ts` (its
 * session and warm-up in a time- and memory-limited child): one the registry does not record as passed —
 * seeded, inserted by hand, registered by an older server — is checked on first sight, and the outcome is
 * recorded, so a poison version is `failed` before any replica runs it and is never tried again, at the
 * next start neither (`test/integration/poison-models.test.ts`).
 */
export class RegistrySync {
  private readonly loaded = new Map<string, OnnxModel>();
  private readonly loading = new Map<string, Promise<OnnxModel>>();
  private listener: pg.Client | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnects = 0;
  private queue: Promise<void> = Promise.resolve();
  /** Refreshes queued and not started yet, by model ('' = every model): a later request joins one. */
  private readonly waiting = new Map<string, Promise<void>>();
  private closed = false;
  private readonly validator: ModelValidator;
  /** `model@version` this process checked, when the registry could not record it (no grant). */
  private readonly validatedHere = new Set<string>();
  /** Why a version failed here, when the registry could not record it: not tried again. */
  private readonly failedHere = new Map<string, string>();

  constructor(
    private readonly deps: {
      registry: ModelRegistry;
      catalog: ModelCatalog;
      /** Connection string for the LISTEN connection (current credentials, which may rotate). */
      connectionString: () => string;
      logger: Logger;
      metrics: Metrics;
    },
    private readonly options: RegistrySyncOptions,
  ) {
    this.validator = new ModelValidator(options.validation ?? DEFAULT_VALIDATION_LIMITS);
  }

  /** Loads every model, then starts listening. @throws when a model has no loadable default version. */
  async start(): Promise<void> {
    await this.refresh();
    const unserved = (await this.deps.registry.list()).filter((model) => !this.deps.catalog.has(model.model));
    if (unserved.length > 0) {
      throw new ModelLoadError(`no loadable default version for ${unserved.map((m) => m.model).join(', ')}`);
    }
    await this.listen();
  }

  /**
   * Re-reads one model (or all) from the registry and applies it; serialised with every other refresh.
   * A refresh that has not started yet covers every request for the same model (or for any model, when it
   * re-reads them all) made meanwhile: a burst of registry changes — each notifies every replica, and each
   * admin call refreshes too — costs one re-read after the one running, not one per change.
   */
  refresh(model?: string): Promise<void> {
    const key = model ?? '';
    const waiting = this.waiting.get('') ?? this.waiting.get(key);
    if (waiting !== undefined) return waiting;
    const run = this.queue.then(async () => {
      this.waiting.delete(key); // from now on a change may be missed: the next request queues anew
      for (const state of await this.deps.registry.list(model)) await this.apply(state);
    });
    this.waiting.set(key, run);
    this.queue = run.catch((error: unknown) =>
      this.deps.logger.error({ err: error, model }, 'model registry refresh failed'),
    );
    return run;
  }

  /**
   * Loads and warms a version (or returns it if loaded), after the isolated check when the registry does not
   * record that these bytes passed it.
   *
   * @throws ModelLoadError when the version is failed, or cannot be loaded (after marking it failed in the
   *   registry); ValidatorUnavailableError when the check could not run (nothing is marked, nothing loaded).
   */
  async ensureLoaded(model: string, version: string): Promise<OnnxModel> {
    const key = `${model}@${version}`;
    const existing = this.loaded.get(key);
    if (existing !== undefined) return existing;
    let pending = this.loading.get(key);
    if (pending === undefined) {
      pending = this.load(model, version).finally(() => this.loading.delete(key));
      this.loading.set(key, pending);
    }
    return pending;
  }

  /**
   * Runs a version's isolated check (`model-validation.ts`) with this replica's limits, for the admin API to
   * store the outcome with a new registration. @throws ValidatorUnavailableError.
   */
  validate(model: string, version: string, onnx: Uint8Array, manifest: unknown): Promise<ValidationOutcome> {
    return this.validator.validate(manifest, onnx, `registry ${model}@${version}`);
  }

  /**
   * Opens a new LISTEN connection with the current credentials and closes the old one (after a
   * credential rotation the old role may be revoked at any moment), then re-reads everything.
   */
  async restartListener(): Promise<void> {
    if (this.closed) return;
    const previous = this.listener;
    await this.listen();
    await previous?.end().catch(() => undefined);
    await this.refresh();
  }

  /** Whether a version is loaded on this replica. */
  isLoaded(model: string, version: string): boolean {
    return this.loaded.has(`${model}@${version}`);
  }

  /** Stops listening and releases every session. */
  async close(): Promise<void> {
    this.closed = true;
    this.validator.close();
    clearTimeout(this.reconnectTimer);
    await this.listener?.end().catch(() => undefined);
    await this.queue;
    await Promise.all([...this.loaded.values()].map((session) => session.close()));
    this.loaded.clear();
  }

  private async load(model: string, version: string): Promise<OnnxModel> {
    const key = `${model}@${version}`;
    const artifact = await this.deps.registry.artifact(model, version);
    if (artifact.state === 'failed') {
      throw new ModelLoadError(artifact.failureReason ?? `registry ${key} is marked failed`);
    }
    const known = this.failedHere.get(key);
    if (known !== undefined) throw new ModelLoadError(known);
    const { onnx, manifest } = artifact;
    // The bytes are the ones their stored SHA-256 names: registered versions are immutable (migration 0007),
    // and loading checks the bytes against the manifest's SHA-256 again.
    if (!artifact.validated && !this.validatedHere.has(key)) {
      const started = performance.now();
      const outcome = await this.validate(model, version, onnx, manifest);
      if (!outcome.ok) return this.fail(model, version, outcome.reason);
      this.validatedHere.add(key);
      this.deps.logger.info(
        { model, version, ms: Math.round(performance.now() - started) },
        'model version passed the isolated check',
      );
      await this.deps.registry
        .markValidated(model, version)
        .catch((error: unknown) =>
          this.deps.logger.warn(
            { err: error, model, version },
            'cannot record that the model version passed its check; every replica checks it again',
          ),
        );
    }
    try {
      const session = await OnnxModel.fromArtifact(manifest, onnx, `registry ${key}`);
      if (session.name !== model || session.version !== version) {
        await session.close();
        throw new ModelLoadError(`registry ${key}: manifest says ${session.name}@${session.version}`);
      }
      this.loaded.set(key, session);
      this.deps.logger.info({ model, version }, 'model version loaded and warmed');
      return session;
    } catch (error) {
      return this.fail(model, version, error instanceof Error ? error.message : String(error));
    }
  }

  /** Marks a version failed (remembered here too, should the registry not take it) and throws why. */
  private async fail(model: string, version: string, reason: string): Promise<never> {
    this.deps.logger.error({ model, version, reason }, 'model version failed to load');
    this.failedHere.set(`${model}@${version}`, reason);
    await this.deps.registry.markFailed(model, version, reason).catch(() => undefined);
    throw new ModelLoadError(reason);
  }

  private async apply(state: RegistryModel): Promise<void> {
    const usable = state.versions.filter((v) => v.state === 'registered').map((v) => v.version);
    // (slice(-0) would be the whole list)
    const newest = this.options.warmVersions > 0 ? usable.slice(-this.options.warmVersions) : [];
    const wanted = [...new Set([state.defaultVersion, state.previousVersion, ...newest])].filter(
      (version): version is string => version !== null && usable.includes(version),
    );
    for (const version of wanted) await this.ensureLoaded(state.model, version).catch(() => undefined);
    this.unloadLeastPinned(state.model, new Set(wanted));

    // Served: every usable version loaded here — the wanted ones, and older ones a request pinned.
    const versions = new Map(
      usable.flatMap((version) => {
        const session = this.loaded.get(`${state.model}@${version}`);
        return session === undefined ? [] : [[version, session] as const];
      }),
    );
    const current = this.deps.catalog.has(state.model) ? this.deps.catalog.get(state.model) : undefined;
    // A default that failed to load never replaces a working one: keep serving what we have.
    const defaultVersion = versions.has(state.defaultVersion)
      ? state.defaultVersion
      : current?.defaultVersion;
    if (defaultVersion === undefined || !versions.has(defaultVersion)) {
      if (current !== undefined)
        versions.set(current.defaultVersion, current.versions.get(current.defaultVersion)!);
      if (current === undefined) return;
    }
    this.deps.catalog.set({
      name: state.model,
      defaultVersion: defaultVersion ?? current!.defaultVersion,
      previousVersion:
        state.previousVersion !== null && versions.has(state.previousVersion)
          ? state.previousVersion
          : undefined,
      killSwitch: { mode: state.killSwitch, reason: state.killReason ?? '' },
      registeredVersions: new Set(usable),
      versions,
    });
    this.exportMetrics(state.model);
    this.releaseUnused(state.model, new Set(versions.keys()));
  }

  private exportMetrics(model: string): void {
    const served = this.deps.catalog.get(model);
    this.deps.metrics.modelVersionInfo.reset();
    for (const entry of this.deps.catalog.list()) {
      for (const version of entry.versions.keys()) {
        this.deps.metrics.modelVersionInfo.set(
          { model: entry.name, version, default: String(version === entry.defaultVersion) },
          1,
        );
      }
    }
    this.deps.metrics.modelReady.set({ model }, served.killSwitch?.mode === 'refuse' ? 0 : 1);
  }

  /** Keeps at most `pinnedVersions` versions of `model` beyond `wanted`: the most recently pinned ones. */
  private unloadLeastPinned(model: string, wanted: ReadonlySet<string>): void {
    const pinned = [...this.loaded.keys()]
      .map((key) => key.split('@') as [string, string])
      .filter(([name, version]) => name === model && !wanted.has(version))
      .map(([, version]) => ({ version, usedAt: this.deps.catalog.lastPinnedUse(model, version) ?? 0 }))
      .sort((a, b) => b.usedAt - a.usedAt);
    for (const { version } of pinned.slice(this.options.pinnedVersions)) {
      const key = `${model}@${version}`;
      const session = this.loaded.get(key)!;
      this.loaded.delete(key);
      setTimeout(() => void session.close(), RELEASE_DELAY_MS).unref();
      this.deps.logger.info(
        { model, version, pinnedVersions: this.options.pinnedVersions },
        'pinned model version unloaded: more recently pinned ones fill MODEL_PINNED_VERSIONS',
      );
    }
  }

  private releaseUnused(model: string, keep: ReadonlySet<string>): void {
    for (const [key, session] of this.loaded) {
      const [name, version] = key.split('@') as [string, string];
      if (name !== model || keep.has(version)) continue;
      this.loaded.delete(key);
      setTimeout(() => void session.close(), RELEASE_DELAY_MS).unref();
    }
  }

  private async listen(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.deps.connectionString(),
      application_name: 'ci-registry-listener',
    });
    client.on('notification', (message) => {
      if (message.channel === 'model_registry') void this.refresh(message.payload);
    });
    const onLost = (error?: Error) => {
      if (this.closed || this.listener !== client) return;
      this.listener = undefined;
      this.deps.logger.warn({ err: error }, 'model registry listener lost; reconnecting');
      this.scheduleReconnect();
    };
    client.on('error', onLost);
    client.on('end', () => onLost());
    this.listener = client;
    await client.connect();
    await client.query('LISTEN model_registry');
  }

  private scheduleReconnect(): void {
    const delayMs = Math.min(10_000, 100 * 2 ** Math.min(this.reconnects, 7));
    this.reconnects++;
    this.reconnectTimer = setTimeout(() => {
      this.listen()
        .then(() => {
          this.reconnects = 0;
          // Notifications sent while we were away are gone: re-read everything.
          return this.refresh();
        })
        .catch((error: unknown) => {
          this.deps.logger.warn({ err: error }, 'model registry listener reconnect failed');
          this.listener = undefined;
          this.scheduleReconnect();
        });
    }, delayMs);
    this.reconnectTimer.unref();
  }
}
