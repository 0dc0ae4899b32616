/**
 * The globals a tensor checkpoint may name, and what each one builds. This table is the whole
 * trust boundary of the pickle reader: a global not listed here (`os.system`, `builtins.eval`,
 * `subprocess.Popen`, …) is refused the moment the file names it, before anything could call it,
 * and the listed ones only assemble data in JavaScript.
 */
import { PinholeError } from '../../../src-shared/errors';
import { type DType } from '../graph';
import { AllowedGlobal, OpaqueObject, TorchStorage, TorchTensorRecord, type PickleValue } from './pickle-values';

/** torch's typed storage classes → element types (`torch.cuda.*` names too: checkpoints saved from a GPU). */
const STORAGE_DTYPES: Readonly<Record<string, DType>> = {
  DoubleStorage: 'float64',
  FloatStorage: 'float32',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
};

function ints(value: PickleValue, what: string): number[] {
  if (!Array.isArray(value)) throw badArgs(what);
  return value.map((v) => {
    const n = typeof v === 'bigint' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw badArgs(what);
    return n;
  });
}

function badArgs(what: string): PinholeError {
  return new PinholeError('IMPORT_REJECTED', `the pickle calls ${what} with arguments a tensor never has`);
}

/** `_rebuild_tensor(_v2)(storage, storage_offset, size, stride, …)`. */
function rebuildTensor(name: string): (args: readonly PickleValue[]) => PickleValue {
  return (args) => {
    const [storage, offset, size, stride] = args;
    if (!(storage instanceof TorchStorage)) throw badArgs(name);
    const start = typeof offset === 'bigint' ? Number(offset) : offset;
    if (typeof start !== 'number' || !Number.isSafeInteger(start) || start < 0) throw badArgs(name);
    const shape = ints(size ?? null, name);
    const strides = ints(stride ?? null, name);
    if (shape.length !== strides.length) throw badArgs(name);
    return new TorchTensorRecord(storage, start, shape, strides);
  };
}

/** `_rebuild_parameter(data, requires_grad, backward_hooks[, state])`: a Parameter is its tensor. */
function rebuildParameter(args: readonly PickleValue[]): PickleValue {
  const [data] = args;
  if (!(data instanceof TorchTensorRecord)) throw badArgs('torch._utils._rebuild_parameter');
  return data;
}

/** `OrderedDict()` or `OrderedDict([(k, v), …])`. */
function orderedDict(args: readonly PickleValue[]): PickleValue {
  const dict = new Map<string | number | bigint | boolean | null | PickleValue[], PickleValue>();
  const [pairs] = args;
  if (Array.isArray(pairs)) {
    for (const pair of pairs) {
      if (!Array.isArray(pair) || pair.length !== 2) throw badArgs('collections.OrderedDict');
      dict.set(pair[0] as string, pair[1]!);
    }
  }
  return dict;
}

/** `_codecs.encode(text, 'latin1')`: how protocol-2 pickles store bytes (numpy scalars). */
function codecsEncode(args: readonly PickleValue[]): PickleValue {
  const [text, encoding] = args;
  if (typeof text !== 'string') throw badArgs('_codecs.encode');
  const enc = typeof encoding === 'string' ? encoding.toLowerCase().replace('-', '') : 'utf8';
  return enc === 'latin1' || enc === 'iso88591'
    ? Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff)
    : Buffer.from(text);
}

const opaque =
  (className: string) =>
  (args: readonly PickleValue[]): PickleValue =>
    new OpaqueObject(className, args);

const CONSTRUCTORS: Readonly<Record<string, (args: readonly PickleValue[]) => PickleValue>> = {
  'collections.OrderedDict': orderedDict,
  'torch._utils._rebuild_tensor': rebuildTensor('torch._utils._rebuild_tensor'),
  'torch._utils._rebuild_tensor_v2': rebuildTensor('torch._utils._rebuild_tensor_v2'),
  'torch._utils._rebuild_parameter': rebuildParameter,
  'torch._utils._rebuild_parameter_with_state': rebuildParameter,
  'torch.Size': (args) => (Array.isArray(args[0]) ? args[0] : []),
  '_codecs.encode': codecsEncode,
  // Data-only records some training scripts leave beside the weights (A1111's safe unpickler allows the same).
  'numpy.core.multiarray.scalar': opaque('numpy.core.multiarray.scalar'),
  'numpy.dtype': opaque('numpy.dtype'),
  'pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint': opaque('ModelCheckpoint'),
};

/**
 * The allowed global `module.name`.
 * @throws PinholeError `IMPORT_REJECTED` naming the global when it is not on the list.
 */
export function allowedGlobal(module: string, name: string, file: string): AllowedGlobal {
  const qualified = `${module}.${name}`;
  const construct = CONSTRUCTORS[qualified];
  if (construct) return new AllowedGlobal(qualified, construct);
  if (module === 'torch' || module === 'torch.cuda') {
    const dtype = STORAGE_DTYPES[name];
    if (dtype) return new AllowedGlobal(qualified, undefined, dtype);
  }
  throw new PinholeError(
    'IMPORT_REJECTED',
    `${file}: refused to load: the pickle references '${qualified}', which a model file has no reason to use ` +
      `(only tensors, storages and plain containers are allowed; nothing in the file was run)`,
  );
}
