// PyTorch `.pth` files read without Python (@adaptseg/models-resnet/pth): the zip format of
// torch >= 1.6 and the legacy stream the official checkpoints use, dtypes, strides, storage offsets;
// pickles that are not tensors or plain containers refused without running anything; name
// mapping for DeeplabMulti, DeeplabVGG, torchvision VGG-16 and our checkpoints, with every problem
// in one error. Fixtures: scripts/make-torch-fixtures.py (torch 1.13).
import { strict as assert } from "node:assert";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as zlib from "node:zlib";
import { execFileSync } from "node:child_process";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { readTensors, saveWeights } from "@adaptseg/core";
import { VggDeeplabNet } from "@adaptseg/models-vgg";
import { ResnetDeeplabNet, fitWeights, loadTorchWeights, deeplabMultiRename } from "@adaptseg/models-resnet";
import { PthError, decodeTorchFile, readStateDict, readTorchFile, type TorchTensor } from "@adaptseg/models-resnet/pth";
import { describeWithData, repoRoot, sharedData, tmp } from "./helpers.js";

const FIX = join(repoRoot, "test/fixtures/torch");
const fix = (f: string) => join(FIX, f);
const enc = (s: string) => new TextEncoder().encode(s);
const cat = (...parts: (Uint8Array | number[] | string)[]) => {
  const bufs = parts.map((p) => (typeof p === "string" ? Buffer.from(p, "latin1") : Buffer.from(p as Uint8Array)));
  return new Uint8Array(Buffer.concat(bufs));
};
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const u16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
};

/** A zip of stored entries, as torch writes them (without its 64-byte alignment). */
function storedZip(entries: [string, Uint8Array][]): Uint8Array {
  const local: Uint8Array[] = [],
    central: Uint8Array[] = [];
  let off = 0;
  for (const [name, data] of entries) {
    const crc = (zlib as unknown as { crc32?: (d: Uint8Array) => number }).crc32?.(data) ?? 0;
    const n = enc(name);
    const head = cat("PK\x03\x04", u16(20), u16(0), u16(0), u16(0), u16(0), u32(crc), u32(data.length), u32(data.length), u16(n.length), u16(0), n);
    central.push(cat("PK\x01\x02", u16(20), u16(20), u16(0), u16(0), u16(0), u16(0), u32(crc), u32(data.length), u32(data.length), u16(n.length), u16(0), u16(0), u16(0), u16(0), u32(0), u32(off), n));
    local.push(head, data);
    off += head.length + data.length;
  }
  const cd = cat(...central);
  return cat(...local, cd, "PK\x05\x06", u16(0), u16(0), u16(entries.length), u16(entries.length), u32(cd.length), u32(off), u16(0));
}

/** A pickle (protocol 2) that calls `module.name(arg)` when Python unpickles it. */
const callPickle = (module: string, name: string, arg: string) => cat("\x80\x02", `c${module}\n${name}\n`, "q\x00", "X", u32(arg.length), arg, "q\x01\x85q\x02Rq\x03.");

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

describe("PyTorch .pth reader", function () {
  this.timeout(60_000);
  before(async () => {
    await tf.setBackend("cpu");
  });

  it("reads the zip format (torch >= 1.6) and the legacy stream (the official checkpoints) to the same tensors", () => {
    const zip = readStateDict(fix("deeplab_multi.pth"));
    const legacy = readStateDict(fix("deeplab_multi_legacy.pth"));
    assert.equal(zip.size, 640);
    assert.deepEqual(
      [...legacy.keys()],
      [...zip.keys()].map((k) => `Scale.${k}`),
    );
    for (const [k, t] of zip) {
      const l = legacy.get(`Scale.${k}`)!;
      assert.deepEqual(l.shape, t.shape, k);
      assert.deepEqual(l.data, t.data, k);
    }
    assert.deepEqual(zip.get("conv1.weight")!.shape, [2, 3, 7, 7]); // OIHW as saved
    const nbt = zip.get("layer2.0.bn1.num_batches_tracked")!;
    assert.equal(nbt.torchDtype, "int64");
    assert.deepEqual(nbt.shape, []);
  });

  for (const f of ["misc.pth", "misc_legacy.pth"]) {
    it(`${f}: float16, bfloat16, float64, int32, a transposed view, a storage offset, nested plain containers`, () => {
      const v = readTorchFile(fix(f)) as Map<string, unknown>;
      assert.deepEqual([...v.keys()], ["epoch", "lr", "name", "flags", "shape", "state_dict"]);
      assert.equal(v.get("epoch"), 3);
      assert.equal(v.get("lr"), 2.5e-4);
      assert.equal(v.get("name"), "misc");
      assert.deepEqual(v.get("flags"), [true, false, null]);
      assert.deepEqual(v.get("shape"), [3, 4]);
      const sd = readStateDict(fix(f)); // the dict under "state_dict"
      const dtypes: Record<string, string> = { f16: "float16", bf16: "bfloat16", f64: "float64", i32: "int32", transposed: "float32", row: "float32" };
      for (const [k, dtype] of Object.entries(dtypes)) {
        const t = sd.get(k)!,
          ref = sd.get(`${k}.ref`)!;
        assert.equal(t.torchDtype, dtype, k);
        assert.deepEqual(t.shape, ref.shape, k);
        assert.deepEqual([...t.data], [...ref.data], k);
      }
      assert.deepEqual(sd.get("transposed")!.shape, [4, 3]);
      // base = arange(12).reshape(3, 4) / 8 - 0.6 in float32; row = base[1]: elements 4..7 of the shared storage
      assert.deepEqual(
        [...sd.get("row")!.data],
        [4, 5, 6, 7].map((i) => Math.fround(i / 8 - Math.fround(0.6))),
      );
    });
  }

  it("refuses a pickled whole module (not a state_dict), naming its class", () => {
    assert.throws(
      () => readTorchFile(fix("whole_module.pth")),
      (e: Error) => e instanceof PthError && /refusing to load/.test(e.message) && /torch\.nn\.modules\.conv\.Conv2d/.test(e.message) && /nothing in the file was executed/.test(e.message),
    );
  });

  it("refuses pickles that call anything else (posix.system, builtins.eval, object construction), in both formats, and runs none of it", () => {
    const dir = tmp();
    const marker = join(dir, "pwned");
    const evil = callPickle("posix", "system", `touch ${marker}`);
    // top level, and as a value inside a state_dict
    const inDict = cat("\x80\x02}q\x00(X\x01\x00\x00\x00a", evil.subarray(2, evil.length - 1), "u.");
    for (const pkl of [evil, inDict]) {
      const file = join(dir, "evil.pth");
      writeFileSync(
        file,
        storedZip([
          ["evil/data.pkl", pkl],
          ["evil/version", enc("3\n")],
        ]),
      );
      assert.throws(
        () => readTorchFile(file),
        (e: Error) => e instanceof PthError && /refusing to load/.test(e.message) && /posix\.system/.test(e.message),
      );
      assert.throws(() => readStateDict(file), /posix\.system/);
    }
    // legacy stream: magic number, protocol 1001, sys info, then the object
    const magic = cat("\x80\x02\x8a\x0a", [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19], ".");
    const header = cat(magic, "\x80\x02M\xe9\x03.", "\x80\x02}q\x00.");
    assert.throws(() => decodeTorchFile(cat(header, callPickle("builtins", "eval", "__import__('os').system('touch x')")), "legacy.pth"), /refusing to load.*builtins\.eval/);
    assert.throws(() => decodeTorchFile(cat(header, "\x80\x02(iposix\nsystem\n."), "inst.pth"), /refusing to load.*posix\.system \(INST\)/);
    assert.throws(() => decodeTorchFile(cat(header, "\x80\x02ctorch.nn\nLinear\n)\x81."), "newobj.pth"), /refusing to load.*class torch\.nn\.Linear/);
    // a storage type outside a persistent id is not callable either
    assert.throws(() => decodeTorchFile(cat(header, "\x80\x02ctorch\nFloatStorage\n)R."), "storage.pth"), /refusing to load.*torch\.FloatStorage/);
    assert.equal(existsSync(marker), false);
    assert.equal(existsSync("x"), false);
  });

  it("says what is not supported: the legacy tar format, TorchScript archives, truncated files, other files", () => {
    const tar = new Uint8Array(1024);
    tar.set(enc("ustar"), 257);
    assert.throws(() => decodeTorchFile(tar, "old.pth"), /old\.pth: the legacy tar format .* not supported/);
    const ts = storedZip([
      ["m/code/m.py", enc("")],
      ["m/constants.pkl", enc("\x80\x02).")],
      ["m/data.pkl_", enc("")],
    ]);
    assert.throws(() => decodeTorchFile(ts, "script.pt"), /TorchScript archive/);
    const bytes = readFileSync(fix("deeplab_multi.pth"));
    assert.throws(() => decodeTorchFile(bytes.subarray(0, bytes.length - 200), "cut.pth"), /cut\.pth: .*(truncated|end-of-central-directory)/);
    const legacy = readFileSync(fix("deeplab_multi_legacy.pth"));
    assert.throws(() => decodeTorchFile(legacy.subarray(0, legacy.length - 100), "cut2.pth"), /cut2\.pth: .*truncated/);
    assert.throws(() => decodeTorchFile(enc('{"not": "torch"}'), "x.json"), /not a PyTorch checkpoint/);
    assert.throws(() => readStateDict(storedZip([["a/data.pkl", cat("\x80\x02]q\x00(K\x01K\x02e.")]])), /holds a list, not a state_dict/);
  });

  it("one error names every missing, unexpected and mis-shaped tensor", () => {
    const sd = readStateDict(fix("deeplab_multi.pth")) as Map<string, TorchTensor | { shape: number[]; data: Float32Array }>;
    sd.delete("layer3.4.conv2.weight");
    sd.set("layer7.conv.weight", { shape: [1, 1, 1, 1], data: new Float32Array(1) });
    sd.set("layer1.0.bn1.running_var", { shape: [3], data: new Float32Array(3) });
    const net = new ResnetDeeplabNet({ numClasses: 5, widthMultiplier: 1 / 32 });
    try {
      const expected = new Map([...net.weights].map(([k, v]) => [k, v.shape]));
      assert.throws(
        () => fitWeights(sd, expected, { source: "doctored.pth", rename: deeplabMultiRename({ heads: true, auxHead: true }), layout: "oihw" }),
        (e: Error) =>
          /^doctored\.pth: the weights do not fit the network: missing layer3\.4\.conv2\.weight; mis-shaped layer1\.0\.bn1\.running_var \[3\] \(expected \[2\]\); unexpected layer7\.conv\.weight \[1,1,1,1\]$/.test(
            e.message,
          ),
      );
    } finally {
      net.dispose();
    }
    // A network of another width or class count: the file's shapes, in the file's layout (OIHW).
    const wide = new ResnetDeeplabNet({ numClasses: 6, widthMultiplier: 1 / 16 });
    try {
      assert.throws(
        () => loadTorchWeights(wide, fix("deeplab_multi.pth"), "full"),
        (e: Error) =>
          /read as a DeeplabMulti state_dict/.test(e.message) &&
          /mis-shaped conv1\.weight \[2,3,7,7\] \(expected \[4,3,7,7\]\)/.test(e.message) &&
          /layer6\.conv2d_list\.3\.bias \[5\] \(expected \[6\]\)/.test(e.message),
      );
    } finally {
      wide.dispose();
    }
  });

  it("official DeeplabVGG (.pth) into vgg16-deeplab: the forward matches PyTorch to 1e-4", () => {
    const io = readStateDict(fix("deeplab_vgg_io.pth"));
    const net = new VggDeeplabNet({ numClasses: 5, widthMultiplier: 1 / 32, aspp: "faithful" });
    try {
      const r = loadTorchWeights(net, fix("deeplab_vgg.pth"), "full");
      assert.equal(r.loaded.length, net.weights.size);
      const inp = io.get("input")!,
        ref = io.get("eval_faithful_main")!;
      const x = tf.tidy(() => tf.transpose(tf.tensor4d(inp.data, inp.shape as [number, number, number, number]), [0, 2, 3, 1])) as tf.Tensor4D;
      const o = net.apply(x);
      const ours = tf.tidy(() => tf.transpose(o.main, [0, 3, 1, 2]).dataSync());
      assert.deepEqual([o.main.shape[1], o.main.shape[2]], ref.shape.slice(2));
      const scale = Math.max(1, ...[...ref.data].map(Math.abs));
      const err = maxDiff(ours, ref.data) / scale;
      assert.ok(err < 1e-4, `relative error ${err}`);
      tf.dispose([x, o.main, o.features!]);
    } finally {
      net.dispose();
    }
  });

  it("torchvision VGG-16 (features.N) initialises the 13 convs; its ImageNet classifier is skipped; fc6/fc7 are needed for a full load", () => {
    const a = new VggDeeplabNet({ numClasses: 5, widthMultiplier: 1 / 32, seed: 3 });
    const b = new VggDeeplabNet({ numClasses: 5, widthMultiplier: 1 / 32, seed: 3 });
    const fresh = new VggDeeplabNet({ numClasses: 5, widthMultiplier: 1 / 32, seed: 3 });
    try {
      loadTorchWeights(a, fix("deeplab_vgg.pth"), "full");
      const r = loadTorchWeights(b, fix("vgg16_torchvision.pth"), "backbone");
      assert.equal(r.loaded.length, 26);
      for (const [k, v] of b.weights) {
        const want = k.startsWith("features.") ? a.weights.get(k)! : fresh.weights.get(k)!;
        assert.deepEqual(v.dataSync(), want.dataSync(), k);
      }
      assert.throws(
        () => loadTorchWeights(fresh, fix("vgg16_torchvision.pth"), "full"),
        /read as a torchvision VGG-16 state_dict.*missing fc6\.weight, fc6\.bias, fc7\.weight, fc7\.bias, classifier\.0\.weight/,
      );
    } finally {
      [a, b, fresh].forEach((n) => n.dispose());
    }
  });

  it("our own checkpoints (safetensors, G/ prefix, HWIO) load through the same path", async () => {
    const src = new ResnetDeeplabNet({ numClasses: 3, widthMultiplier: 1 / 32, seed: 1 });
    const dst = new ResnetDeeplabNet({ numClasses: 3, widthMultiplier: 1 / 32, seed: 2 });
    try {
      const file = join(tmp(), "ckpt-00000001.safetensors");
      const tensors: Record<string, tf.Tensor> = {};
      for (const [k, v] of src.weights) tensors[`G/${k}`] = v;
      tensors["D/main/conv1.weight"] = src.weights.get("conv1.weight")!; // other parts of a checkpoint are ignored
      saveWeights(file, await readTensors(tensors), { adaptseg: { format: "adaptseg-checkpoint/1" } });
      loadTorchWeights(dst, file, "full");
      for (const [k, v] of src.weights) assert.deepEqual(dst.weights.get(k)!.dataSync(), v.dataSync(), k);
    } finally {
      src.dispose();
      dst.dispose();
    }
  });
});

describeWithData("adaptseg eval on an official PyTorch state_dict (.pth)", function () {
  this.timeout(300_000);
  it("evaluates deeplab_multi.pth through the config's backbone and writes metrics.json; a pickled module is refused", () => {
    const dir = tmp();
    const cfgFile = join(dir, "pth-eval.json");
    const size = { width: 64, height: 48 };
    writeFileSync(
      cfgFile,
      JSON.stringify({
        name: "pth-eval",
        backend: "wasm",
        model: { type: "resnet101-deeplab", widthMultiplier: 1 / 32, numClasses: 5, upsample: "align-corners", aspp: "faithful" },
        adaptation: { type: "source-only" },
        source: { type: "camvid", root: "camvid/CamVid", split: "train", size },
        target: { type: "camvid", root: "camvid/CamVid", split: "val", size },
      }),
    );
    const cli = join(repoRoot, "packages/cli/dist/cli.js");
    const run = (file: string, out: string) =>
      execFileSync(process.execPath, [cli, "eval", "--config", cfgFile, "--checkpoint", file, "--limit", "2", "--data", sharedData, "--out", out], { encoding: "utf8", stdio: "pipe" });
    run(join(FIX, "deeplab_multi.pth"), join(dir, "a"));
    const m = JSON.parse(readFileSync(join(dir, "a", "metrics.json"), "utf8")) as { images: number; miou: number; perClass: Record<string, number | null> };
    assert.equal(m.images, 2);
    assert.ok(Number.isFinite(m.miou) && Object.keys(m.perClass).length === 11);
    assert.throws(() => run(join(FIX, "whole_module.pth"), join(dir, "b")), /torch\.nn\.modules\.conv\.Conv2d.*nothing in the file was executed/s);
    assert.ok(!existsSync(join(dir, "b", "metrics.json")));
  });
});
