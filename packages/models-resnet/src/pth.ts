// PyTorch `.pth` files without Python, and without executing anything in them.
//
// Two container formats are read:
//  - zip (what `torch.save` writes since PyTorch 1.6): `<prefix>/data.pkl` (the pickled object) and
//    `<prefix>/data/<key>` (one raw little-endian storage per key), entries stored or deflated;
//  - the legacy stream (PyTorch 0.1.10 to 1.5, and `_use_new_zipfile_serialization=False`), which
//    is how the official AdaptSegNet and DeepLab checkpoints were saved: pickles of a magic number,
//    the protocol version and system info, then the object, then the list of storage keys, then
//    each storage as an int64 element count followed by its bytes.
// The legacy tar format (PyTorch before 0.1.10) and TorchScript archives are refused.
//
// The unpickler handles the subset a `state_dict` (or a dict holding one) uses: the protocol 2-4
// opcodes for dicts, lists, tuples, strings, numbers, booleans and None, the memo, persistent ids
// (storages), and REDUCE of exactly these callables, each implemented here in plain TypeScript:
// `collections.OrderedDict`, `torch._utils._rebuild_tensor`, `_rebuild_tensor_v2` and
// `_rebuild_parameter`; storage types (`torch.FloatStorage`, ...) only inside a persistent id.
// Any other global (`posix.system`, `builtins.eval`, a `torch.nn` module, a numpy scalar), object
// construction (NEWOBJ, INST, OBJ) and extension codes are refused with an error naming them: no
// name from the file is ever looked up, imported or called. This module does not load TF.js.
import { readFileSync } from "node:fs";
import { inflateRawSync } from "node:zlib";
import { f16 } from "@adaptseg/core";

/** A tensor read from a `.pth`, widened to float32 (`torchDtype` records what the file held). */
export interface TorchTensor {
  dtype: "float32";
  shape: number[];
  data: Float32Array;
  torchDtype: TorchDtype;
}

export type TorchDtype = "float32" | "float64" | "float16" | "bfloat16" | "int64" | "int32" | "int16" | "int8" | "uint8" | "bool";

/** What an unpickled `.pth` holds: dicts (OrderedDict too) are Maps in file order, lists and tuples arrays. */
export type TorchValue = TorchTensor | Map<string | number, TorchValue> | TorchValue[] | string | number | bigint | boolean | null | Uint8Array;

export class PthError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PthError";
  }
}

const STORAGE_TYPES: Record<string, { dtype: TorchDtype; size: number }> = {
  FloatStorage: { dtype: "float32", size: 4 },
  DoubleStorage: { dtype: "float64", size: 8 },
  HalfStorage: { dtype: "float16", size: 2 },
  BFloat16Storage: { dtype: "bfloat16", size: 2 },
  LongStorage: { dtype: "int64", size: 8 },
  IntStorage: { dtype: "int32", size: 4 },
  ShortStorage: { dtype: "int16", size: 2 },
  CharStorage: { dtype: "int8", size: 1 },
  ByteStorage: { dtype: "uint8", size: 1 },
  BoolStorage: { dtype: "bool", size: 1 },
};

// ------------------------------------------------------------------------------------- zip

interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

function zipEntries(buf: Uint8Array, source: string): Map<string, ZipEntry> {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let eocd = -1;
  for (let p = buf.length - 22; p >= Math.max(0, buf.length - 22 - 65535); p--) {
    if (dv.getUint32(p, true) === 0x06054b50) {
      eocd = p;
      break;
    }
  }
  if (eocd < 0) throw new PthError(`${source}: a zip file without an end-of-central-directory record (truncated?)`);
  let count = dv.getUint16(eocd + 10, true);
  let cdOffset = dv.getUint32(eocd + 16, true);
  if (cdOffset === 0xffffffff || count === 0xffff) {
    const loc = eocd - 20;
    if (loc < 0 || dv.getUint32(loc, true) !== 0x07064b50) throw new PthError(`${source}: zip64 archive without a zip64 locator`);
    const rec = Number(dv.getBigUint64(loc + 8, true));
    if (dv.getUint32(rec, true) !== 0x06064b50) throw new PthError(`${source}: bad zip64 end-of-central-directory record`);
    count = Number(dv.getBigUint64(rec + 32, true));
    cdOffset = Number(dv.getBigUint64(rec + 48, true));
  }
  const out = new Map<string, ZipEntry>();
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > buf.length || dv.getUint32(p, true) !== 0x02014b50) throw new PthError(`${source}: bad zip central directory entry ${i}`);
    const method = dv.getUint16(p + 10, true);
    let compressedSize = dv.getUint32(p + 20, true);
    let size = dv.getUint32(p + 24, true);
    const nameLen = dv.getUint16(p + 28, true),
      extraLen = dv.getUint16(p + 30, true),
      commentLen = dv.getUint16(p + 32, true);
    let localOffset = dv.getUint32(p + 42, true);
    const name = new TextDecoder().decode(buf.subarray(p + 46, p + 46 + nameLen));
    // zip64 extra field: the 64-bit values of the fields that are 0xffffffff, in this order.
    for (let e = p + 46 + nameLen; e + 4 <= p + 46 + nameLen + extraLen; ) {
      const id = dv.getUint16(e, true),
        len = dv.getUint16(e + 2, true);
      if (id === 0x0001) {
        let q = e + 4;
        if (size === 0xffffffff) {
          size = Number(dv.getBigUint64(q, true));
          q += 8;
        }
        if (compressedSize === 0xffffffff) {
          compressedSize = Number(dv.getBigUint64(q, true));
          q += 8;
        }
        if (localOffset === 0xffffffff) localOffset = Number(dv.getBigUint64(q, true));
      }
      e += 4 + len;
    }
    out.set(name, { name, method, compressedSize, size, localOffset });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}

function zipRead(buf: Uint8Array, e: ZipEntry, source: string): Uint8Array {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (dv.getUint32(e.localOffset, true) !== 0x04034b50) throw new PthError(`${source}: bad zip local header for ${e.name}`);
  const start = e.localOffset + 30 + dv.getUint16(e.localOffset + 26, true) + dv.getUint16(e.localOffset + 28, true);
  const raw = buf.subarray(start, start + e.compressedSize);
  if (raw.length !== e.compressedSize) throw new PthError(`${source}: zip entry ${e.name} runs past the end of the file (truncated?)`);
  if (e.method === 0) return raw;
  if (e.method === 8) return new Uint8Array(inflateRawSync(raw));
  throw new PthError(`${source}: zip entry ${e.name} uses compression method ${e.method} (only stored and deflate are supported)`);
}

// ------------------------------------------------------------------------------- unpickler

/** A reference to a storage, resolved after unpickling (legacy files keep their storages after the pickle). */
interface StorageRef {
  kind: "storage";
  key: string;
  type: { dtype: TorchDtype; size: number };
  /** Legacy view: element offset into the root storage and length. */
  view?: { offset: number; size: number };
}
/** A tensor whose storage is resolved later. */
interface TensorRef {
  kind: "tensor";
  storage: StorageRef;
  offset: number;
  shape: number[];
  stride: number[];
}
interface GlobalRef {
  kind: "global";
  module: string;
  name: string;
}
interface Mark {
  kind: "mark";
}
type Item = unknown;

const _MARK: Mark = { kind: "mark" };
const isObj = (v: unknown, kind: string): boolean => typeof v === "object" && v !== null && (v as { kind?: string }).kind === kind;
const describeGlobal = (g: GlobalRef) => `${g.module}.${g.name}`;

/** Callables REDUCE may apply, by `module.name`. Everything else is refused. */
const CALLABLES: Record<string, (args: Item[], where: string) => Item> = {
  "collections.OrderedDict": (args, where) => {
    if (args.length === 0) return new Map();
    if (args.length === 1 && Array.isArray(args[0])) {
      const m = new Map<string | number, Item>();
      for (const kv of args[0] as Item[]) {
        if (!Array.isArray(kv) || kv.length !== 2) throw new PthError(`${where}: OrderedDict(...) with an item that is not a pair`);
        m.set(kv[0] as string, kv[1]);
      }
      return m;
    }
    throw new PthError(`${where}: OrderedDict called with unsupported arguments`);
  },
  "torch._utils._rebuild_tensor": (args, where) => rebuildTensor(args, where),
  "torch._utils._rebuild_tensor_v2": (args, where) => rebuildTensor(args, where),
  "torch._utils._rebuild_parameter": (args, where) => {
    if (!isObj(args[0], "tensor")) throw new PthError(`${where}: _rebuild_parameter of something that is not a tensor`);
    return args[0];
  },
};

function rebuildTensor(args: Item[], where: string): TensorRef {
  const [storage, offset, size, stride] = args;
  if (!isObj(storage, "storage")) throw new PthError(`${where}: a tensor rebuilt from something that is not a storage`);
  const ints = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === "number" && Number.isInteger(x) && x >= 0);
  if (typeof offset !== "number" || !ints(size) || !ints(stride) || (size as number[]).length !== (stride as number[]).length) {
    throw new PthError(`${where}: a tensor with a malformed offset, size or stride`);
  }
  return { kind: "tensor", storage: storage as StorageRef, offset, shape: size as number[], stride: stride as number[] };
}

interface UnpickleOptions {
  source: string;
  /** Turns a persistent id (already unpickled) into a storage reference. */
  persistentLoad(pid: Item): StorageRef;
}

/** Unpickles one pickle starting at `pos`; returns the value and the position after STOP. */
function unpickle(buf: Uint8Array, pos: number, opts: UnpickleOptions): { value: Item; end: number } {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const where = opts.source;
  const stack: Item[] = [];
  const marks: number[] = [];
  const memo = new Map<number, Item>();
  const td = new TextDecoder("utf-8");
  const latin1 = new TextDecoder("latin1");
  let p = pos;
  const need = (n: number) => {
    if (p + n > buf.length) throw new PthError(`${where}: pickle ends early (truncated file?)`);
  };
  const u8 = () => {
    need(1);
    return buf[p++]!;
  };
  const u16 = () => {
    need(2);
    const v = dv.getUint16(p, true);
    p += 2;
    return v;
  };
  const u32 = () => {
    need(4);
    const v = dv.getUint32(p, true);
    p += 4;
    return v;
  };
  const bytes = (n: number) => {
    need(n);
    const b = buf.subarray(p, p + n);
    p += n;
    return b;
  };
  const line = () => {
    const e = buf.indexOf(0x0a, p);
    if (e < 0) throw new PthError(`${where}: pickle ends early (truncated file?)`);
    const s = latin1.decode(buf.subarray(p, e));
    p = e + 1;
    return s;
  };
  const pop = () => {
    if (!stack.length) throw new PthError(`${where}: malformed pickle (stack underflow)`);
    return stack.pop();
  };
  const popMark = () => {
    const m = marks.pop();
    if (m === undefined) throw new PthError(`${where}: malformed pickle (no MARK)`);
    return stack.splice(m);
  };
  const top = () => {
    if (!stack.length) throw new PthError(`${where}: malformed pickle (stack underflow)`);
    return stack[stack.length - 1];
  };
  const long = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const setItems = (target: Item, items: Item[]) => {
    if (!(target instanceof Map)) throw new PthError(`${where}: malformed pickle (SETITEMS on something that is not a dict)`);
    for (let i = 0; i + 1 < items.length; i += 2) {
      const k = items[i];
      if (typeof k !== "string" && typeof k !== "number") throw new PthError(`${where}: a dict key that is not a string or an integer`);
      target.set(k, items[i + 1]);
    }
  };
  const refuse = (what: string): never => {
    throw new PthError(
      `${where}: refusing to load: the file's pickle ${what}. Only tensors and plain containers (dict, OrderedDict, list, tuple, ` +
        `str, int, float, bool, None) are read; nothing in the file was executed. Save a state_dict (torch.save(model.state_dict(), f)).`,
    );
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80:
        u8();
        break; // PROTO
      case 0x95:
        bytes(8);
        break; // FRAME
      case 0x2e:
        return { value: pop(), end: p }; // STOP
      case 0x28:
        marks.push(stack.length);
        break; // MARK
      case 0x7d:
        stack.push(new Map());
        break; // EMPTY_DICT
      case 0x5d:
        stack.push([]);
        break; // EMPTY_LIST
      case 0x29:
        stack.push([]);
        break; // EMPTY_TUPLE
      case 0x4e:
        stack.push(null);
        break; // NONE
      case 0x88:
        stack.push(true);
        break; // NEWTRUE
      case 0x89:
        stack.push(false);
        break; // NEWFALSE
      case 0x4b:
        stack.push(u8());
        break; // BININT1
      case 0x4d:
        stack.push(u16());
        break; // BININT2
      case 0x4a: {
        need(4);
        stack.push(dv.getInt32(p, true));
        p += 4;
        break;
      } // BININT
      case 0x8a:
        stack.push(long(bytes(u8())));
        break; // LONG1
      case 0x8b: {
        const n = u32();
        stack.push(long(bytes(n)));
        break;
      } // LONG4
      case 0x47: {
        need(8);
        stack.push(dv.getFloat64(p, false));
        p += 8;
        break;
      } // BINFLOAT
      case 0x58: {
        const n = u32();
        stack.push(td.decode(bytes(n)));
        break;
      } // BINUNICODE
      case 0x8c: {
        const n = u8();
        stack.push(td.decode(bytes(n)));
        break;
      } // SHORT_BINUNICODE
      case 0x8d: {
        need(8);
        const n = Number(dv.getBigUint64(p, true));
        p += 8;
        stack.push(td.decode(bytes(n)));
        break;
      } // BINUNICODE8
      case 0x55: {
        const n = u8();
        stack.push(td.decode(bytes(n)));
        break;
      } // SHORT_BINSTRING (Python 2 str)
      case 0x54: {
        const n = u32();
        stack.push(td.decode(bytes(n)));
        break;
      } // BINSTRING
      case 0x43: {
        const n = u8();
        stack.push(bytes(n).slice());
        break;
      } // SHORT_BINBYTES
      case 0x42: {
        const n = u32();
        stack.push(bytes(n).slice());
        break;
      } // BINBYTES
      case 0x74:
        stack.push(popMark());
        break; // TUPLE
      case 0x85:
        stack.push([pop()]);
        break; // TUPLE1
      case 0x86: {
        const b = pop(),
          a = pop();
        stack.push([a, b]);
        break;
      } // TUPLE2
      case 0x87: {
        const c = pop(),
          b = pop(),
          a = pop();
        stack.push([a, b, c]);
        break;
      } // TUPLE3
      case 0x6c:
        stack.push(popMark());
        break; // LIST
      case 0x64: {
        const items = popMark();
        const m = new Map();
        setItems(m, items);
        stack.push(m);
        break;
      } // DICT
      case 0x61: {
        const v = pop();
        const l = top();
        if (!Array.isArray(l)) refuse("appends to something that is not a list");
        (l as Item[]).push(v);
        break;
      } // APPEND
      case 0x65: {
        const items = popMark();
        const l = top();
        if (!Array.isArray(l)) refuse("appends to something that is not a list");
        (l as Item[]).push(...items);
        break;
      } // APPENDS
      case 0x73: {
        const v = pop(),
          k = pop();
        setItems(top(), [k, v]);
        break;
      } // SETITEM
      case 0x75: {
        const items = popMark();
        setItems(top(), items);
        break;
      } // SETITEMS
      case 0x71:
        memo.set(u8(), top());
        break; // BINPUT
      case 0x72:
        memo.set(u32(), top());
        break; // LONG_BINPUT
      case 0x94:
        memo.set(memo.size, top());
        break; // MEMOIZE
      case 0x68:
      case 0x6a: {
        // BINGET, LONG_BINGET
        const k = op === 0x68 ? u8() : u32();
        if (!memo.has(k)) throw new PthError(`${where}: malformed pickle (memo ${k} missing)`);
        stack.push(memo.get(k));
        break;
      }
      case 0x30:
        pop();
        break; // POP
      case 0x31:
        popMark();
        break; // POP_MARK
      case 0x32:
        stack.push(top());
        break; // DUP
      case 0x63: {
        const module = line(),
          name = line();
        stack.push({ kind: "global", module, name } satisfies GlobalRef);
        break;
      } // GLOBAL
      case 0x93: {
        // STACK_GLOBAL
        const name = pop(),
          module = pop();
        if (typeof name !== "string" || typeof module !== "string") throw new PthError(`${where}: malformed pickle (STACK_GLOBAL)`);
        stack.push({ kind: "global", module, name } satisfies GlobalRef);
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop(),
          fn = pop();
        if (!isObj(fn, "global")) refuse("calls something that is not a named function");
        const name = describeGlobal(fn as GlobalRef);
        const impl = Object.hasOwn(CALLABLES, name) ? CALLABLES[name] : undefined;
        if (!impl) refuse(`calls ${name}, which is not a tensor or a plain container`);
        if (!Array.isArray(args)) throw new PthError(`${where}: malformed pickle (REDUCE arguments are not a tuple)`);
        stack.push(impl!(args as Item[], where));
        break;
      }
      case 0x51:
        stack.push(opts.persistentLoad(pop()));
        break; // BINPERSID
      case 0x62: {
        // BUILD: state of an OrderedDict (state_dict()._metadata) or a tensor's (empty) state.
        const state = pop();
        const obj = top();
        if (obj instanceof Map || isObj(obj, "tensor")) break;
        refuse(`sets the state (${typeof state}) of an object that is not a dict or a tensor`);
        break;
      }
      case 0x81:
      case 0x92: {
        // NEWOBJ, NEWOBJ_EX: refuse, naming the class
        const cls = stack[stack.length - (op === 0x81 ? 2 : 3)];
        refuse(`constructs an object${isObj(cls, "global") ? ` of class ${describeGlobal(cls as GlobalRef)}` : ""} (NEWOBJ), which is not a tensor or a plain container`);
        break;
      }
      case 0x69:
        refuse(`constructs an instance of ${line()}.${line()} (INST)`);
        break;
      case 0x6f:
        refuse("constructs an object (OBJ)");
        break;
      case 0x82:
      case 0x83:
      case 0x84:
        refuse("uses the extension registry (EXT)");
        break;
      case 0x50:
        refuse("uses a text persistent id (PERSID)");
        break;
      default:
        throw new PthError(`${where}: unsupported pickle opcode 0x${op.toString(16)} ('${String.fromCharCode(op)}') at byte ${p - 1}: not a protocol 2-4 state_dict pickle`);
    }
  }
}

// --------------------------------------------------------------------------- storages, tensors

function storageType(t: Item, where: string): { dtype: TorchDtype; size: number } {
  if (!isObj(t, "global")) throw new PthError(`${where}: a storage without a storage type`);
  const g = t as GlobalRef;
  const s = g.module === "torch" ? STORAGE_TYPES[g.name] : undefined;
  if (!s) throw new PthError(`${where}: unsupported storage type ${describeGlobal(g)}`);
  return s;
}

/** Element `i` of raw little-endian storage bytes as a number. */
function reader(bytes: Uint8Array, dtype: TorchDtype): (i: number) => number {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case "float32":
      return (i) => dv.getFloat32(4 * i, true);
    case "float64":
      return (i) => dv.getFloat64(8 * i, true);
    case "float16":
      return (i) => f16(dv.getUint16(2 * i, true));
    case "bfloat16": {
      const tmp = new DataView(new ArrayBuffer(4));
      return (i) => {
        tmp.setUint32(0, dv.getUint16(2 * i, true) << 16, true);
        return tmp.getFloat32(0, true);
      };
    }
    case "int64":
      return (i) => Number(dv.getBigInt64(8 * i, true));
    case "int32":
      return (i) => dv.getInt32(4 * i, true);
    case "int16":
      return (i) => dv.getInt16(2 * i, true);
    case "int8":
      return (i) => dv.getInt8(i);
    case "uint8":
    case "bool":
      return (i) => bytes[i]!;
  }
}

function materialize(t: TensorRef, storage: Uint8Array, where: string): TorchTensor {
  const { type, view } = t.storage;
  const base = (view?.offset ?? 0) + t.offset;
  const numel = t.shape.reduce((a, b) => a * b, 1);
  const limit = view ? view.offset + view.size : Math.floor(storage.length / type.size);
  let last = base;
  for (let d = 0; d < t.shape.length; d++) if (t.shape[d]! > 0) last += (t.shape[d]! - 1) * t.stride[d]!;
  if (numel > 0 && (last >= limit || (view && view.offset + view.size > storage.length / type.size))) {
    throw new PthError(`${where}: a tensor [${t.shape}] reads past the end of its storage ${t.storage.key}`);
  }
  const data = new Float32Array(numel);
  const contiguous = t.shape.every((_, d) => t.shape.slice(d + 1).reduce((a, b) => a * b, 1) === t.stride[d] || t.shape[d] === 1);
  if (type.dtype === "float32" && contiguous && (storage.byteOffset + 4 * base) % 4 === 0) {
    data.set(new Float32Array(storage.buffer, storage.byteOffset + 4 * base, numel));
  } else {
    const get = reader(storage, type.dtype);
    if (contiguous) for (let i = 0; i < numel; i++) data[i] = get(base + i);
    else {
      const idx = new Array<number>(t.shape.length).fill(0);
      for (let i = 0; i < numel; i++) {
        let off = base;
        for (let d = 0; d < idx.length; d++) off += idx[d]! * t.stride[d]!;
        data[i] = get(off);
        for (let d = idx.length - 1; d >= 0; d--) {
          if (++idx[d]! < t.shape[d]!) break;
          idx[d] = 0;
        }
      }
    }
  }
  return { dtype: "float32", shape: t.shape.slice(), data, torchDtype: type.dtype };
}

/** Replaces every TensorRef in an unpickled value by a TorchTensor. */
function resolve(v: Item, load: (s: StorageRef) => Uint8Array, where: string, seen = new Map<Item, TorchValue>()): TorchValue {
  if (v === null || typeof v !== "object" || v instanceof Uint8Array) return v as TorchValue;
  if (seen.has(v)) return seen.get(v)!;
  if (isObj(v, "tensor")) {
    const t = v as TensorRef;
    const out = materialize(t, load(t.storage), where);
    seen.set(v, out);
    return out;
  }
  if (v instanceof Map) {
    const out = new Map<string | number, TorchValue>();
    seen.set(v, out);
    for (const [k, x] of v) out.set(k, resolve(x, load, where, seen));
    return out;
  }
  if (Array.isArray(v)) {
    const out: TorchValue[] = [];
    seen.set(v, out);
    for (const x of v) out.push(resolve(x, load, where, seen));
    return out;
  }
  if (isObj(v, "storage")) throw new PthError(`${where}: a bare storage outside a tensor is not supported`);
  if (isObj(v, "global"))
    throw new PthError(
      `${where}: refusing to load: the file's pickle holds a reference to ${describeGlobal(v as GlobalRef)}, which is not a tensor or a plain container; nothing in the file was executed`,
    );
  throw new PthError(`${where}: unsupported value in the pickle`);
}

// ------------------------------------------------------------------------------- formats

function readZip(buf: Uint8Array, source: string): TorchValue {
  const entries = zipEntries(buf, source);
  const pkl = [...entries.keys()].find((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (!pkl) {
    if ([...entries.keys()].some((n) => /\/constants\.pkl$|\/code\//.test(n)))
      throw new PthError(`${source}: a TorchScript archive (torch.jit.save), not a saved state_dict; save model.state_dict() with torch.save instead`);
    throw new PthError(`${source}: a zip file without <archive>/data.pkl: not a PyTorch checkpoint`);
  }
  const prefix = pkl.slice(0, -"data.pkl".length);
  const bo = entries.get(`${prefix}byteorder`);
  if (bo && new TextDecoder().decode(zipRead(buf, bo, source)).trim() !== "little") throw new PthError(`${source}: big-endian storages are not supported`);
  const value = unpickle(zipRead(buf, entries.get(pkl)!, source), 0, {
    source,
    persistentLoad: (pid) => {
      if (!Array.isArray(pid) || pid[0] !== "storage" || pid.length < 5) throw new PthError(`${source}: unsupported persistent id in data.pkl`);
      return { kind: "storage", key: String(pid[2]), type: storageType(pid[1], source) };
    },
  }).value;
  const cache = new Map<string, Uint8Array>();
  return resolve(
    value,
    (s) => {
      let b = cache.get(s.key);
      if (!b) {
        const e = entries.get(`${prefix}data/${s.key}`);
        if (!e) throw new PthError(`${source}: storage ${s.key} is missing from the archive`);
        cache.set(s.key, (b = zipRead(buf, e, source)));
      }
      return b;
    },
    source,
  );
}

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

function readLegacy(buf: Uint8Array, source: string): TorchValue {
  const plain = {
    source,
    persistentLoad: (): StorageRef => {
      throw new PthError(`${source}: unexpected persistent id in the legacy header`);
    },
  };
  const magic = unpickle(buf, 0, plain);
  if (magic.value !== LEGACY_MAGIC) throw new PthError(`${source}: a pickle file that is not a PyTorch checkpoint (no torch.save magic number)`);
  const proto = unpickle(buf, magic.end, plain);
  if (proto.value !== 1001) throw new PthError(`${source}: unsupported legacy protocol version ${String(proto.value)}`);
  const sys = unpickle(buf, proto.end, plain);
  if (sys.value instanceof Map && sys.value.get("little_endian") === false) throw new PthError(`${source}: big-endian storages are not supported`);
  const roots = new Map<string, StorageRef["type"]>();
  const main = unpickle(buf, sys.end, {
    source,
    persistentLoad: (pid) => {
      // ('storage', storage_type, root_key, location, size, view_metadata)
      if (!Array.isArray(pid) || pid[0] !== "storage" || pid.length < 6) throw new PthError(`${source}: unsupported persistent id (only storages are read)`);
      const type = storageType(pid[1], source);
      const key = String(pid[2]);
      roots.set(key, type);
      const vm = pid[5];
      const view = Array.isArray(vm) ? { offset: Number(vm[1]), size: Number(vm[2]) } : undefined;
      return { kind: "storage", key, type, view };
    },
  });
  const keys = unpickle(buf, main.end, plain);
  if (!Array.isArray(keys.value)) throw new PthError(`${source}: malformed legacy checkpoint (no storage key list)`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const data = new Map<string, Uint8Array>();
  let p = keys.end;
  for (const k of keys.value as Item[]) {
    const key = String(k);
    const type = roots.get(key);
    if (!type) throw new PthError(`${source}: storage ${key} is listed but never used`);
    if (p + 8 > buf.length) throw new PthError(`${source}: storage ${key} is missing (truncated file?)`);
    const n = Number(dv.getBigInt64(p, true));
    p += 8;
    if (p + n * type.size > buf.length) throw new PthError(`${source}: storage ${key} runs past the end of the file (truncated?)`);
    data.set(key, buf.subarray(p, p + n * type.size));
    p += n * type.size;
  }
  return resolve(
    main.value,
    (s) => {
      const b = data.get(s.key);
      if (!b) throw new PthError(`${source}: storage ${s.key} has no data`);
      return b;
    },
    source,
  );
}

/** Decodes the bytes of a `.pth` file into plain values (see TorchValue). */
export function decodeTorchFile(bytes: Uint8Array, source = "pth"): TorchValue {
  if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) return readZip(bytes, source);
  if (bytes.length > 262 && new TextDecoder().decode(bytes.subarray(257, 262)) === "ustar") {
    throw new PthError(`${source}: the legacy tar format (torch.save before PyTorch 0.1.10) is not supported; load it in PyTorch and save it again with torch.save`);
  }
  if (bytes.length >= 2 && bytes[0] === 0x80) return readLegacy(bytes, source);
  throw new PthError(`${source}: not a PyTorch checkpoint (neither a zip archive nor a torch.save pickle stream)`);
}

export function readTorchFile(file: string): TorchValue {
  return decodeTorchFile(readFileSync(file), file);
}

const isTensor = (v: unknown): v is TorchTensor => typeof v === "object" && v !== null && (v as TorchTensor).data instanceof Float32Array && Array.isArray((v as TorchTensor).shape);

/**
 * The state_dict in a `.pth`: the top-level dict of tensors, or the one under `state_dict`,
 * `model_state_dict`, `model` or `state_dict_G` in a training checkpoint dict. Keys keep the file's
 * names. Non-tensor entries of a state_dict are an error.
 */
export function readStateDict(file: string | Uint8Array, source = typeof file === "string" ? file : "pth"): Map<string, TorchTensor> {
  const v = typeof file === "string" ? readTorchFile(file) : decodeTorchFile(file, source);
  const allTensors = (m: Map<string | number, TorchValue>) => m.size > 0 && [...m.values()].every(isTensor);
  let sd: Map<string | number, TorchValue> | undefined;
  if (v instanceof Map && allTensors(v)) sd = v;
  else if (v instanceof Map) {
    for (const k of ["state_dict", "model_state_dict", "model", "state_dict_G"]) {
      const x = v.get(k);
      if (x instanceof Map && allTensors(x)) {
        sd = x;
        break;
      }
    }
  }
  if (!sd) {
    const what = v instanceof Map ? `a dict with keys ${[...v.keys()].slice(0, 12).join(", ")}` : Array.isArray(v) ? "a list" : typeof v;
    throw new PthError(`${source}: holds ${what}, not a state_dict (a dict of tensors, or one under "state_dict" or "model")`);
  }
  return new Map([...sd].map(([k, t]) => [String(k), t as TorchTensor]));
}
