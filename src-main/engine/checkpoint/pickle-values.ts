/**
 * The values a restricted unpickle produces: plain data (numbers, strings, bytes, lists, dicts)
 * and inert records for the few globals a tensor checkpoint may name. Nothing here is callable
 * from the file's point of view: a record only describes what the file asked for.
 */
import { type DType } from '../graph';

/** Where a storage's bytes are: a range of the checkpoint file, or bytes already in memory. */
export type StorageBytes =
  | { readonly kind: 'file'; readonly path: string; readonly offset: number; readonly byteLength: number }
  | { readonly kind: 'memory'; readonly bytes: Uint8Array };

/** A torch storage named by a persistent id; `bytes` is filled once the container knows where they are. */
export class TorchStorage {
  bytes: StorageBytes | undefined;
  constructor(
    readonly key: string,
    readonly dtype: DType,
    /** Elements, as the persistent id states. */
    readonly numel: number,
  ) {}
}

/** `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, …)`, recorded, not run. */
export class TorchTensorRecord {
  constructor(
    readonly storage: TorchStorage,
    /** In elements. */
    readonly storageOffset: number,
    readonly shape: readonly number[],
    readonly stride: readonly number[],
  ) {}
}

/** A data-only object of an allowed class (numpy scalars and dtypes, Lightning callback state): kept as data. */
export class OpaqueObject {
  state: PickleValue = null;
  constructor(
    readonly className: string,
    readonly args: readonly PickleValue[],
  ) {}
}

/** An allowed global as it sits on the pickle stack before REDUCE / NEWOBJ. */
export class AllowedGlobal {
  constructor(
    readonly qualifiedName: string,
    /** Builds the value from the call's arguments; pure data construction, never file-chosen code. */
    readonly construct: ((args: readonly PickleValue[]) => PickleValue) | undefined,
    /** Storage classes (`torch.HalfStorage`): the element type they stand for. */
    readonly storageDtype?: DType,
  ) {}
}

export type PickleDict = Map<PickleKey, PickleValue>;
export type PickleKey = string | number | bigint | boolean | null | PickleValue[];

export type PickleValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PickleValue[]
  | PickleDict
  | Set<PickleKey>
  | TorchStorage
  | TorchTensorRecord
  | OpaqueObject
  | AllowedGlobal;
