import onnxProto from 'onnx-proto';

/**
 * The ONNX protobuf classes and types (`onnx.ModelProto`, `onnx.TensorProto.DataType`, …) from `onnx-proto`.
 *
 * `onnx-proto` is CommonJS and assigns `module.exports` in a way Node's ESM loader cannot see named exports
 * in, so `import { onnx } from 'onnx-proto'` fails at run time under plain Node; import it from here instead.
 */
export import onnx = onnxProto.onnx;
