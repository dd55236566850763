import onnxProto from 'onnx-proto';

// `onnx-proto` is CommonJS without named exports Node's ESM loader can see (see batch/src/onnx/onnx-proto.ts).
const { onnx } = onnxProto;

/**
 * Why an ONNX model refers to external data, or `undefined` when every tensor is stored in the model itself.
 *
 * Why refuse it: a tensor whose `data_location` is EXTERNAL (or that lists `external_data`) names a file
 * that ONNX Runtime reads when the session is created. The registry stores one self-contained file per
 * version, so such a model either cannot load or — worse — reads whatever file of the server the location
 * names (relative to the working directory, or an absolute path) into a weight whose effect shows in the
 * scores. Every tensor is checked: graph initializers, sparse initializers, tensor attributes of every
 * node, and the nodes of subgraphs (`Loop`/`If`/`Scan` bodies) and of model-local functions.
 *
 * Bytes that do not decode as an ONNX model give `undefined`: ONNX Runtime's own error says more about them.
 */
export function externalDataProblem(bytes: Uint8Array): string | undefined {
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch {
    return undefined;
  }
  const found: string[] = [];
  const tensor = (where: string, value: onnxProto.onnx.ITensorProto | null | undefined) => {
    if (value === null || value === undefined) return;
    const external =
      value.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL || (value.externalData ?? []).length > 0;
    if (!external) return;
    const location = (value.externalData ?? []).find((entry) => entry.key === 'location')?.value;
    found.push(
      `${where}${location === undefined || location === null ? '' : ` (location ${JSON.stringify(location)})`}`,
    );
  };
  const graph = (where: string, value: onnxProto.onnx.IGraphProto | null | undefined) => {
    if (value === null || value === undefined) return;
    for (const initializer of value.initializer ?? [])
      tensor(`${where}initializer "${initializer.name ?? ''}"`, initializer);
    for (const sparse of value.sparseInitializer ?? []) {
      tensor(`${where}sparse initializer "${sparse.values?.name ?? ''}"`, sparse.values);
      tensor(`${where}sparse initializer "${sparse.values?.name ?? ''}" indices`, sparse.indices);
    }
    nodes(where, value.node ?? []);
  };
  const nodes = (where: string, list: readonly onnxProto.onnx.INodeProto[]) => {
    for (const node of list) {
      const at = `${where}node "${node.name ?? node.opType ?? ''}" attribute`;
      for (const attribute of node.attribute ?? []) {
        const name = `${at} "${attribute.name ?? ''}"`;
        tensor(name, attribute.t);
        for (const item of attribute.tensors ?? []) tensor(name, item);
        tensor(name, attribute.sparseTensor?.values);
        for (const item of attribute.sparseTensors ?? []) tensor(name, item.values);
        graph(`${name} subgraph: `, attribute.g);
        for (const item of attribute.graphs ?? []) graph(`${name} subgraph: `, item);
      }
    }
  };
  graph('', model.graph);
  for (const fn of model.functions ?? []) nodes(`function "${fn.name ?? ''}": `, fn.node ?? []);
  if (found.length === 0) return undefined;
  const shown = found.slice(0, 3).join('; ');
  return `external data is not allowed (a registered version is one self-contained ONNX file): ${shown}${
    found.length > 3 ? ` and ${found.length - 3} more` : ''
  }`;
}
