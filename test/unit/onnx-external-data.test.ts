import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { onnx } from '../../batch/src/onnx/onnx-proto.js';
import { encodeModel, floatValueInfo, node } from '../../batch/src/onnx/graph-builder.js';
import { externalDataProblem } from '../../server/src/inference/onnx-external-data.js';
import { externalDataModel } from '../helpers/poison-models.js';

// Which models the registry refuses for external data, before any ONNX Runtime session sees them: a tensor
// stored outside the model names a file of the server, which ONNX Runtime would read
// (test/integration/poison-models.test.ts shows the server loading package.json as weights without it).
const { DataType, DataLocation } = onnx.TensorProto;
const external: onnx.ITensorProto = {
  name: 'w',
  dims: [1],
  dataType: DataType.FLOAT,
  dataLocation: DataLocation.EXTERNAL,
  externalData: [{ key: 'location', value: '/etc/passwd' }],
};

describe('external data in ONNX models', () => {
  it('passes the bundled models and bytes that are not ONNX (ONNX Runtime says more about those)', async () => {
    const models = path.resolve(import.meta.dirname, '../../models');
    for (const model of ['churn', 'clv']) {
      expect(
        externalDataProblem(await readFile(path.join(models, model, '1', 'model.onnx'))),
      ).toBeUndefined();
    }
    expect(externalDataProblem(Buffer.from('this is not an ONNX model'))).toBeUndefined();
  });

  it('finds an external initializer, naming it and its location', async () => {
    const { onnx: bytes } = await externalDataModel('1', 'package.json');
    expect(externalDataProblem(bytes)).toBe(
      'external data is not allowed (a registered version is one self-contained ONNX file): ' +
        'initializer "w" (location "package.json")',
    );
  });

  it('finds one hidden in a tensor attribute inside a subgraph (an If branch)', () => {
    const constant = {
      ...node('Constant', [], ['c']),
      attribute: [{ name: 'value', type: onnx.AttributeProto.AttributeType.TENSOR, t: external }],
    };
    const branch: onnx.IGraphProto = { name: 'then', node: [constant], output: [floatValueInfo('c', [1])] };
    const bytes = encodeModel(
      {
        name: 'hidden',
        input: [{ name: 'flag', type: { tensorType: { elemType: DataType.BOOL, shape: { dim: [] } } } }],
        output: [floatValueInfo('out', [1])],
        node: [
          {
            ...node('If', ['flag'], ['out']),
            attribute: [
              { name: 'then_branch', type: onnx.AttributeProto.AttributeType.GRAPH, g: branch },
              { name: 'else_branch', type: onnx.AttributeProto.AttributeType.GRAPH, g: branch },
            ],
          },
        ],
      },
      { docString: 'external data in a subgraph' },
    );
    expect(externalDataProblem(bytes)).toMatch(
      /node "out_If" attribute "then_branch" subgraph: node "c_Constant" attribute "value" \(location "\/etc\/passwd"\); .*else_branch/,
    );
  });
});
