import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { DatabasePool } from '../db/rotating-pool.js';
import { withTransaction } from '../db/transaction.js';
import { errors } from '../errors.js';
import { InvalidManifestError, parseModelManifest, type ModelManifest } from '../inference/model-manifest.js';
import type { ValidationOutcome } from '../inference/model-validation.js';

/** Kill-switch modes: serving normally, refusing, or serving the previous default version. */
export type KillSwitch = 'off' | 'refuse' | 'previous-version';

/** One registered version, without its ONNX bytes. */
export interface RegistryVersion {
  readonly version: string;
  readonly state: 'registered' | 'failed';
  readonly failureReason: string | null;
  readonly sha256: string;
  readonly manifest: ModelManifest;
  readonly registeredAt: Date;
  readonly registeredBy: string;
}

/** One version's bytes and manifest, as {@link ModelRegistry.artifact} reads them, with its state. */
export interface RegistryArtifact {
  readonly onnx: Buffer;
  readonly manifest: unknown;
  readonly state: 'registered' | 'failed';
  readonly failureReason: string | null;
  /** Whether these bytes passed the isolated check (`validated_sha256` is their stored SHA-256). */
  readonly validated: boolean;
}

/** A model as the registry records it. */
export interface RegistryModel {
  readonly model: string;
  readonly defaultVersion: string;
  readonly previousVersion: string | null;
  readonly killSwitch: KillSwitch;
  readonly killReason: string | null;
  readonly versions: readonly RegistryVersion[];
}

/**
 * The Postgres model registry: versions with their ONNX bytes, manifests and state; per model the
 * default, the previous default (the rollback target) and the kill switch; an event row per action.
 * Every write fires a `model_registry` notification (a trigger), which replicas follow (see `registry-sync.ts`).
 */
export class ModelRegistry {
  constructor(private readonly pool: DatabasePool) {}

  /**
   * Checks a registration without storing it: the manifest must be valid and name this model and version,
   * and the bytes must have the manifest's SHA-256.
   *
   * @returns the bytes' SHA-256. @throws AppError INVALID_ARGUMENT for a bad manifest or checksum.
   */
  checkRegistration(input: { model: string; version: string; onnx: Uint8Array; manifest: unknown }): string {
    const manifest = parseManifest(input.manifest);
    if (manifest.name !== input.model || manifest.version !== input.version) {
      throw errors.invalidArgument(
        'manifest_json',
        `names ${manifest.name}@${manifest.version}, not ${input.model}@${input.version}`,
      );
    }
    const sha256 = createHash('sha256').update(input.onnx).digest('hex');
    if (sha256 !== manifest.onnx.sha256) {
      throw errors.invalidArgument(
        'onnx',
        `SHA-256 ${sha256} does not match the manifest's ${manifest.onnx.sha256}`,
      );
    }
    return sha256;
  }

  /** Whether a version is stored (in any state). */
  async hasVersion(model: string, version: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      'SELECT 1 FROM model_versions WHERE model = $1 AND version = $2',
      [model, version],
    );
    return (rowCount ?? 0) > 0;
  }

  /**
   * Stores a version ({@link checkRegistration} first). With `validation`, the outcome of the isolated check
   * (`model-validation.ts`) is stored with it: passed (no replica checks it again), or `failed` with the
   * reason (no replica ever loads it). Without, the first replica that wants it checks it.
   *
   * @throws AppError INVALID_ARGUMENT for a bad manifest or checksum, ALREADY_EXISTS for a known version.
   */
  async register(input: {
    model: string;
    version: string;
    onnx: Uint8Array;
    manifest: unknown;
    actor: string;
    validation?: ValidationOutcome;
  }): Promise<void> {
    const sha256 = this.checkRegistration(input);
    const failure = input.validation?.ok === false ? input.validation.reason.slice(0, 2_000) : null;
    const inserted = await this.pool.query(
      `INSERT INTO model_versions
         (model, version, onnx, onnx_sha256, manifest, registered_by, state, failure_reason, validated_sha256)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`,
      [
        input.model,
        input.version,
        Buffer.from(input.onnx),
        sha256,
        JSON.stringify(input.manifest),
        input.actor,
        failure === null ? 'registered' : 'failed',
        failure,
        input.validation?.ok === true ? sha256 : null,
      ],
    );
    if (inserted.rowCount === 0) {
      throw errors.versionExists(input.model, input.version);
    }
    await this.event(
      input.model,
      'register',
      input.version,
      input.actor,
      undefined,
      failure === null ? {} : { failed: failure },
    );
  }

  /** Every model (or one) with its versions. */
  async list(model?: string): Promise<RegistryModel[]> {
    const versions = await this.pool.query<{
      model: string;
      version: string;
      state: 'registered' | 'failed';
      failure_reason: string | null;
      onnx_sha256: string;
      manifest: unknown;
      registered_at: Date;
      registered_by: string;
    }>(
      `SELECT model, version, state, failure_reason, onnx_sha256, manifest, registered_at, registered_by
         FROM model_versions WHERE $1::text IS NULL OR model = $1 ORDER BY model, registered_at, version`,
      [model ?? null],
    );
    const models = await this.pool.query<{
      model: string;
      default_version: string;
      previous_version: string | null;
      kill_switch: KillSwitch;
      kill_reason: string | null;
    }>(
      `SELECT model, default_version, previous_version, kill_switch, kill_reason
         FROM models WHERE $1::text IS NULL OR model = $1 ORDER BY model`,
      [model ?? null],
    );
    return models.rows.map((row) => ({
      model: row.model,
      defaultVersion: row.default_version,
      previousVersion: row.previous_version,
      killSwitch: row.kill_switch,
      killReason: row.kill_reason,
      versions: versions.rows
        .filter((version) => version.model === row.model)
        .map((version) => ({
          version: version.version,
          state: version.state,
          failureReason: version.failure_reason,
          sha256: version.onnx_sha256,
          manifest: parseModelManifest(
            version.manifest,
            `the manifest of registry ${version.model}@${version.version}`,
          ),
          registeredAt: version.registered_at,
          registeredBy: version.registered_by,
        })),
    }));
  }

  /**
   * The ONNX bytes and manifest of one version, its state, and whether its bytes passed the isolated check.
   * @throws AppError NOT_FOUND.
   */
  async artifact(model: string, version: string): Promise<RegistryArtifact> {
    const { rows } = await this.pool.query<{
      onnx: Buffer;
      manifest: unknown;
      state: 'registered' | 'failed';
      failure_reason: string | null;
      validated: boolean;
    }>(
      `SELECT onnx, manifest, state, failure_reason, validated_sha256 IS NOT DISTINCT FROM onnx_sha256 AS validated
         FROM model_versions WHERE model = $1 AND version = $2`,
      [model, version],
    );
    const row = rows[0];
    if (row === undefined) throw errors.modelVersionNotFound(model, version, []);
    return {
      onnx: row.onnx,
      manifest: row.manifest,
      state: row.state,
      failureReason: row.failure_reason,
      validated: row.validated,
    };
  }

  /**
   * Makes `version` the default; the old default becomes the rollback target. Creates the model row
   * for a model's first default.
   *
   * @throws AppError NOT_FOUND for an unknown version, FAILED_PRECONDITION for a failed one.
   */
  async setDefault(model: string, version: string, actor: string): Promise<void> {
    await withTransaction(this.pool, async (client) => {
      const target = await client.query<{ state: string; failure_reason: string | null }>(
        'SELECT state, failure_reason FROM model_versions WHERE model = $1 AND version = $2',
        [model, version],
      );
      const row = target.rows[0];
      if (row === undefined) throw errors.modelVersionNotFound(model, version, []);
      if (row.state === 'failed') throw errors.versionFailed(model, version, row.failure_reason ?? 'unknown');
      await client.query(
        `INSERT INTO models (model, default_version, updated_by) VALUES ($1, $2, $3)
         ON CONFLICT (model) DO UPDATE SET
           previous_version = CASE WHEN models.default_version = EXCLUDED.default_version
                                   THEN models.previous_version ELSE models.default_version END,
           default_version = EXCLUDED.default_version, updated_at = now(), updated_by = EXCLUDED.updated_by`,
        [model, version, actor],
      );
      await this.event(model, 'set-default', version, actor, client);
    });
  }

  /**
   * Swaps the default and the previous version.
   *
   * @returns the version now default. @throws AppError FAILED_PRECONDITION when there is nothing to roll back to.
   */
  async rollback(model: string, actor: string): Promise<string> {
    return withTransaction(this.pool, async (client) => {
      const { rows } = await client.query<{ default_version: string; previous_version: string | null }>(
        'SELECT default_version, previous_version FROM models WHERE model = $1 FOR UPDATE',
        [model],
      );
      const row = rows[0];
      if (row === undefined) throw errors.modelNotFound(model, []);
      if (row.previous_version === null) {
        throw errors.noPreviousVersion(model);
      }
      await client.query(
        `UPDATE models SET default_version = previous_version, previous_version = default_version,
                updated_at = now(), updated_by = $2 WHERE model = $1`,
        [model, actor],
      );
      await this.event(model, 'rollback', row.previous_version, actor, client);
      return row.previous_version;
    });
  }

  /** Sets or clears a model's kill switch. @throws AppError NOT_FOUND for an unknown model. */
  async setKillSwitch(model: string, mode: KillSwitch, reason: string, actor: string): Promise<void> {
    const updated = await this.pool.query(
      `UPDATE models SET kill_switch = $2, kill_reason = NULLIF($3, ''), updated_at = now(), updated_by = $4 WHERE model = $1`,
      [model, mode, mode === 'off' ? '' : reason, actor],
    );
    if (updated.rowCount === 0) throw errors.modelNotFound(model, []);
    await this.event(model, `kill-switch:${mode}`, null, actor, undefined, { reason });
  }

  /** Records that a version cannot be loaded, so nobody promotes it. */
  async markFailed(model: string, version: string, reason: string): Promise<void> {
    await this.pool.query(
      `UPDATE model_versions SET state = 'failed', failure_reason = $3 WHERE model = $1 AND version = $2`,
      [model, version, reason.slice(0, 2_000)],
    );
    await this.event(model, 'load-failed', version, 'server', undefined, { reason });
  }

  /**
   * Records that the version's bytes (their stored SHA-256) passed the isolated check, so other replicas
   * load it without checking it again. @throws the database's error (the server role lacks the column's grant).
   */
  async markValidated(model: string, version: string): Promise<void> {
    await this.pool.query(
      `UPDATE model_versions SET validated_sha256 = onnx_sha256
        WHERE model = $1 AND version = $2 AND state = 'registered'`,
      [model, version],
    );
  }

  private async event(
    model: string,
    action: string,
    version: string | null,
    actor: string,
    client?: pg.PoolClient,
    detail: Record<string, unknown> = {},
  ): Promise<void> {
    await (client ?? this.pool).query(
      'INSERT INTO model_registry_events (model, action, version, actor, detail) VALUES ($1, $2, $3, $4, $5)',
      [model, action, version, actor, JSON.stringify(detail)],
    );
  }
}

/** {@link parseModelManifest}, as an INVALID_ARGUMENT naming the first problem's field. */
function parseManifest(input: unknown): ModelManifest {
  try {
    return parseModelManifest(input, 'manifest_json');
  } catch (error) {
    if (!(error instanceof InvalidManifestError)) throw error;
    const problem = error.problems[0]!;
    throw errors.invalidArgument(`manifest_json.${problem.path}`, problem.message);
  }
}
