import { z } from 'zod';

/** What a model name may look like (also the name of its repository folder and its health service). */
export const MODEL_NAME_PATTERN = /^[a-z][a-z0-9_-]{0,62}$/;

/** What a model version may look like (also the name of its repository folder). */
export const MODEL_VERSION_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * The manifest that sits next to every `model.onnx` (`models/<name>/<version>/manifest.json`).
 *
 * It is the contract between whoever trains a model (our `batch/` trainer, or a data scientist with
 * skl2onnx) and the server: which features go into the input tensor in which order, which output holds
 * the score, how good the model was on its holdout and which data it was trained on.
 */
export const modelManifestSchema = z
  .object({
    /** Manifest format version; bumped on incompatible changes. */
    schemaVersion: z.literal(1),
    /** Model name, e.g. `churn`; must equal the repository folder name. */
    name: z.string().regex(MODEL_NAME_PATTERN),
    /** Model version, e.g. `1`; must equal the version folder name. */
    version: z.string().regex(MODEL_VERSION_PATTERN),
    task: z.enum(['binary-classification', 'regression']),
    /** What the score means, for humans (shown by GetModel). */
    scoreDescription: z.string(),
    /** Input features in tensor column order. */
    features: z
      .array(
        z
          .object({
            name: z.string().regex(/^[a-z][a-z0-9_]{0,62}$/),
            description: z.string(),
            unit: z.string(),
            /** Training mean: the population baseline used by the `population-mean` fallback. */
            mean: z.number(),
            /** Reference distribution on the training data, for drift (PSI): bin edges and fractions. */
            reference: z
              .object({
                edges: z.array(z.number()),
                fractions: z.array(z.number()),
              })
              .strict()
              .optional(),
          })
          .strict(),
      )
      .min(1),
    /** The ONNX input: one FP32 tensor of shape [batch, features.length]. */
    input: z.object({ name: z.string(), datatype: z.literal('FP32') }).strict(),
    outputs: z
      .object({
        /**
         * The output holding the score:
         * - a tensor of shape [batch] or [batch, k]: `column` picks the column of a 2-D output (default 0);
         * - a sequence of maps from class to probability, as converters emit by default for classifiers
         *   (skl2onnx's ZipMap): `key` names the class whose probability is the score, e.g. `1`.
         * Set at most one of `column` and `key`; the loader checks the choice against the graph.
         */
        score: z
          .object({
            name: z.string(),
            column: z.number().int().nonnegative().optional(),
            key: z.union([z.number().int(), z.string().min(1)]).optional(),
          })
          .strict()
          .refine((score) => score.column === undefined || score.key === undefined, {
            message: 'set column (a tensor output) or key (a ZipMap output), not both',
          }),
        /**
         * Optional tensor of per-feature contributions, shape [batch, features.length], used for reason
         * codes. `space` says what the contributions add up to (e.g. `logit`).
         */
        contributions: z.object({ name: z.string(), space: z.string() }).strict().optional(),
      })
      .strict(),
    /** Holdout metrics by name (`auc`, `log_loss`, `rmse`, ...). */
    metrics: z.record(z.string(), z.number()),
    training: z
      .object({
        /** Identifies the data the model was trained on. */
        snapshotId: z.string(),
        trainRows: z.number().int().nonnegative(),
        holdoutRows: z.number().int().nonnegative(),
      })
      .passthrough(),
    /** The ONNX file, relative to the manifest, and its SHA-256 (hex), verified on load. */
    onnx: z.object({ file: z.string(), sha256: z.string().regex(/^[0-9a-f]{64}$/) }).strict(),
    /** A few feature rows (tensor order) used to warm the session before the model is marked ready. */
    warmupRows: z.array(z.array(z.number())).min(1),
  })
  .strict()
  .superRefine((manifest, ctx) => {
    for (const [i, row] of manifest.warmupRows.entries()) {
      if (row.length !== manifest.features.length) {
        ctx.addIssue({
          code: 'custom',
          path: ['warmupRows', i],
          message: `has ${row.length} values, expected ${manifest.features.length} (one per feature)`,
        });
      }
    }
    const names = new Set<string>();
    for (const [i, feature] of manifest.features.entries()) {
      if (names.has(feature.name)) {
        ctx.addIssue({ code: 'custom', path: ['features', i, 'name'], message: `duplicate ${feature.name}` });
      }
      names.add(feature.name);
    }
  });

/** A validated model manifest. */
export type ModelManifest = z.infer<typeof modelManifestSchema>;
/** A manifest as written to disk (defaults not yet applied). */
export type ModelManifestInput = z.input<typeof modelManifestSchema>;

/** One way in which a manifest does not conform: where (`features.0.name`; empty for the whole) and what. */
export interface ManifestProblem {
  readonly path: string;
  readonly message: string;
}

/** Thrown by {@link parseModelManifest}: the manifest does not conform to {@link modelManifestSchema}. */
export class InvalidManifestError extends Error {
  override readonly name = 'InvalidManifestError';

  /**
   * @param what Names the manifest in the message: a path, `the manifest of registry churn@3`.
   * @param problems Every problem found, in schema order (at least one).
   */
  constructor(
    what: string,
    readonly problems: readonly ManifestProblem[],
  ) {
    super(
      `${what} is not a valid manifest: ${problems.map((problem) => `${problem.path}: ${problem.message}`).join('; ')}`,
    );
  }
}

/**
 * Validates a manifest — parsed JSON from a file, a registry row or a request — against
 * {@link modelManifestSchema}. The one place a manifest is checked: whoever reads one calls this.
 *
 * @param what Names the manifest in the error message: a path, `the manifest of registry churn@3`.
 * @throws InvalidManifestError listing every problem.
 */
export function parseModelManifest(input: unknown, what: string): ModelManifest {
  const parsed = modelManifestSchema.safeParse(input);
  if (!parsed.success) {
    throw new InvalidManifestError(
      what,
      parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })),
    );
  }
  return parsed.data;
}
