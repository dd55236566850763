import type { LinearModel } from '../training/linear-model.js';
import { encodeModel, floatInitializer, floatValueInfo, node } from './graph-builder.js';
import type { onnx } from './onnx-proto.js';

/** How the exported graph turns the linear predictor `eta` into the score. */
export type ScoreLink =
  /** `score = sigmoid(eta)`: a probability (logistic regression). */
  | { readonly kind: 'sigmoid' }
  /**
   * `score = max(exp(eta + logCorrection) − 1, 0)`: a mean amount from a `log1p` regression (see
   * `Log1pRidgeModel.logCorrection`).
   */
  | { readonly kind: 'expm1'; readonly logCorrection: number };

/** Options of {@link exportLinearModel}. */
export interface ExportLinearModelOptions {
  /** How the score is computed from the linear predictor. */
  readonly link: ScoreLink;
  /** Name of the score output, shape [batch, 1]. */
  readonly scoreOutput: string;
  /**
   * Name of the float32 input, shape [batch, features].
   * @default 'features'
   */
  readonly inputName?: string;
  /**
   * Name of the per-feature contributions output, shape [batch, features].
   * @default 'contributions'
   */
  readonly contributionsOutput?: string;
  /** Human description stored in the model. */
  readonly docString: string;
  /** Key/value metadata stored in the model. */
  readonly metadata?: readonly (readonly [key: string, value: string])[];
}

/**
 * Exports a {@link LinearModel} as a self-contained ONNX model (standardisation included):
 *
 * ```text
 * z             = (features − mean) · (1 / std)                 Sub, Mul
 * eta           = MatMul(z, weights[n, 1]) + intercept          [batch, 1]
 * score         = sigmoid(eta)  or  Relu(exp(eta + c) − 1)      [batch, 1]
 * contributions = z · weights (row vector, broadcast)           [batch, n], in the space of eta
 * ```
 *
 * All constants are rounded to float32, so scores match the float64 TypeScript model to about 1e-6.
 *
 * @returns The serialised model (`.onnx` bytes).
 */
export function exportLinearModel(model: LinearModel, options: ExportLinearModelOptions): Uint8Array {
  const { inputName = 'features', contributionsOutput = 'contributions', scoreOutput, link } = options;
  const width = model.weights.length;
  const initializers: onnx.ITensorProto[] = [
    floatInitializer('feature_mean', [width], model.standardizer.means),
    floatInitializer(
      'feature_inv_std',
      [width],
      model.standardizer.stds.map((std) => 1 / std),
    ),
    floatInitializer('weights', [width, 1], model.weights),
    floatInitializer('weight_row', [width], model.weights),
    floatInitializer('intercept', [1], [model.intercept]),
  ];
  const nodes: onnx.INodeProto[] = [
    node('Sub', [inputName, 'feature_mean'], ['centered']),
    node('Mul', ['centered', 'feature_inv_std'], ['z']),
    node('MatMul', ['z', 'weights'], ['z_weights']),
    node('Add', ['z_weights', 'intercept'], ['eta']),
    node('Mul', ['z', 'weight_row'], [contributionsOutput]),
  ];
  if (link.kind === 'sigmoid') {
    nodes.push(node('Sigmoid', ['eta'], [scoreOutput]));
  } else {
    initializers.push(floatInitializer('log_correction', [1], [link.logCorrection]));
    initializers.push(floatInitializer('one', [1], [1]));
    nodes.push(
      node('Add', ['eta', 'log_correction'], ['eta_corrected']),
      node('Exp', ['eta_corrected'], ['one_plus_score']),
      node('Sub', ['one_plus_score', 'one'], ['score_unclipped']),
      node('Relu', ['score_unclipped'], [scoreOutput]),
    );
  }
  return encodeModel(
    {
      name: `linear_${link.kind}`,
      input: [floatValueInfo(inputName, ['batch', width])],
      output: [
        floatValueInfo(scoreOutput, ['batch', 1]),
        floatValueInfo(contributionsOutput, ['batch', width]),
      ],
      initializer: initializers,
      node: nodes,
    },
    { docString: options.docString, ...(options.metadata ? { metadata: options.metadata } : {}) },
  );
}
