/**
 * A minimal ONNX model for probing execution providers: `c = a + b` on float32 [4]. Encoded here by hand (a few
 * protobuf fields) so probing needs no file on disk and no dependency on the graph toolkit.
 */
import { oneNodeModel, tensorValueInfo } from './tiny-onnx';

/** The probe's inputs and the output they must give. */
export const PROBE_INPUT_A = new Float32Array([1, 2, 3, 4]);
export const PROBE_INPUT_B = new Float32Array([10, 20, 30, 40]);
export const PROBE_EXPECTED = new Float32Array([11, 22, 33, 44]);

/** The serialized ModelProto (IR version 7, default opset 13). */
export function probeModelBytes(): Uint8Array {
  const vector = (name: string) => tensorValueInfo(name, 'float32', [4]);
  return oneNodeModel('Add', [vector('a'), vector('b')], [vector('c')], ['a', 'b'], ['c']);
}
