import onnxProto from 'onnx-proto';

// `onnx-proto` is CommonJS without named exports Node's ESM loader can see (see batch/src/onnx/onnx-proto.ts).
const { onnx } = onnxProto;

/** A model whose ZipMap output was turned back into the probability tensor it wraps. */
export interface UnzippedModel {
  /** The rewritten `.onnx` bytes. */
  readonly bytes: Uint8Array;
  /** The ZipMap's class labels: the class of each column of the output tensor, in column order. */
  readonly classLabels: ReadonlyArray<number | string>;
}

/**
 * Rewrites the graph so that `outputName`, a sequence of maps made by an `ai.onnx.ml` ZipMap node, becomes
 * the `[batch, classes]` float tensor that the ZipMap was given.
 *
 * Why: classifier converters (skl2onnx, onnxmltools) end the graph with a ZipMap by default, turning the
 * probability tensor into one `{class: probability}` map per row, and onnxruntime-node cannot return
 * non-tensor values at all (its binding throws "Non tensor type is temporarily not supported.", see
 * `test/unit/converter-models.test.ts`). ZipMap only repackages its input, so replacing it with an
 * Identity node yields the same probabilities; the ZipMap's `classlabels_int64s`/`classlabels_strings`
 * say which class each column is. Nothing else in the graph changes.
 *
 * @throws Error (the caller adds the file) when the output is not made by a ZipMap, or when the graph also
 *   uses the ZipMap's output internally.
 */
export function unzipMapOutput(bytes: Uint8Array, outputName: string): UnzippedModel {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph;
  if (graph === null || graph === undefined) throw new Error('the model has no graph');
  const nodes = graph.node ?? [];
  const zipMap = nodes.find((node) => node.output?.includes(outputName));
  if (zipMap?.opType !== 'ZipMap' || zipMap.domain !== 'ai.onnx.ml') {
    throw new Error(
      `output "${outputName}" is not a tensor and not made by an ai.onnx.ml ZipMap node ` +
        `(made by ${zipMap?.opType ?? 'nothing'}); onnxruntime-node returns tensors only`,
    );
  }
  if (nodes.some((node) => node.input?.includes(outputName))) {
    throw new Error(`output "${outputName}" (a ZipMap) is also used inside the graph; cannot unwrap it`);
  }
  const classLabels = zipMapLabels(zipMap);

  zipMap.opType = 'Identity';
  zipMap.domain = '';
  zipMap.attribute = [];
  const output = graph.output?.find((value) => value.name === outputName);
  if (output === undefined) throw new Error(`"${outputName}" is not a graph output`);
  output.type = {
    tensorType: {
      elemType: onnx.TensorProto.DataType.FLOAT,
      shape: { dim: [{ dimParam: 'batch' }, { dimValue: classLabels.length }] },
    },
  };
  graph.valueInfo = (graph.valueInfo ?? []).filter((value) => value.name !== outputName);
  // Identity is a default-domain operator (since opset 1); a converter's graph normally imports that domain.
  const opsets = model.opsetImport ?? [];
  if (!opsets.some((opset) => (opset.domain ?? '') === '')) opsets.push({ domain: '', version: 1 });
  model.opsetImport = opsets;
  return { bytes: onnx.ModelProto.encode(model).finish(), classLabels };
}

/** The ZipMap's classes, in the column order of its input. */
function zipMapLabels(zipMap: onnxProto.onnx.INodeProto): ReadonlyArray<number | string> {
  const attributes = zipMap.attribute ?? [];
  const ints = attributes.find((a) => a.name === 'classlabels_int64s')?.ints;
  if (ints !== null && ints !== undefined && ints.length > 0) {
    // protobufjs decodes int64 as Long when the `long` package is installed, else as number.
    return ints.map((value) => (typeof value === 'number' ? value : value.toNumber()));
  }
  const strings = attributes.find((a) => a.name === 'classlabels_strings')?.strings;
  if (strings !== null && strings !== undefined && strings.length > 0) {
    return strings.map((value) => new TextDecoder().decode(value));
  }
  throw new Error('the ZipMap node has neither classlabels_int64s nor classlabels_strings');
}
