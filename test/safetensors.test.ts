import { strict as assert } from "node:assert";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { decodeSafetensors, encodeSafetensors, loadWeights, saveWeights } from "@adaptseg/core";
import { tmp } from "./helpers.js";

describe("safetensors", () => {
  it("round-trips F32 tensors and metadata through an atomic save", () => {
    const dir = tmp();
    const file = join(dir, "w.safetensors");
    saveWeights(file, { a: { shape: [2, 3], data: [1, 2, 3, 4, 5, -6.5] }, b: { shape: [1], data: [0.25] } }, { iteration: 7, config: { x: 1 } });
    assert.deepEqual(readdirSync(dir), ["w.safetensors"]); // no temp file left behind
    const { tensors, metadata } = loadWeights(file);
    assert.deepEqual([...tensors.keys()], ["a", "b"]);
    assert.deepEqual(tensors.get("a")!.shape, [2, 3]);
    assert.deepEqual([...tensors.get("a")!.data], [1, 2, 3, 4, 5, -6.5]);
    assert.equal(metadata.iteration, "7");
    assert.deepEqual(JSON.parse(metadata.config!), { x: 1 });
  });

  it("matches the byte layout of the format (LE u64 header length, JSON header, LE data)", () => {
    const bytes = encodeSafetensors({ t: { shape: [2], data: [1, -2] } });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    assert.deepEqual(header.t, { dtype: "F32", shape: [2], data_offsets: [0, 8] });
    assert.equal((8 + n) % 8, 0);
    assert.deepEqual([...bytes.subarray(8 + n)], [0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0]); // 1.0f, -2.0f little-endian
  });

  it("reads F16 and BF16 by hand-built bytes", () => {
    const json = JSON.stringify({ h: { dtype: "F16", shape: [2], data_offsets: [0, 4] }, b: { dtype: "BF16", shape: [1], data_offsets: [4, 6] } });
    const jb = new TextEncoder().encode(json);
    const bytes = new Uint8Array(8 + jb.length + 6);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(jb.length), true);
    bytes.set(jb, 8);
    bytes.set([0x00, 0x3c, 0x00, 0xc1, 0xc0, 0x3f], 8 + jb.length); // f16 1.0, f16 -2.5, bf16 1.5
    const { tensors } = decodeSafetensors(bytes);
    assert.deepEqual([...tensors.get("h")!.data], [1, -2.5]);
    assert.deepEqual([...tensors.get("b")!.data], [1.5]);
  });

  it("names the file in errors", () => {
    const file = join(tmp(), "bad.safetensors");
    writeFileSync(file, Buffer.from([1, 2, 3]));
    assert.throws(() => loadWeights(file), /bad\.safetensors/);
    const good = encodeSafetensors({ t: { shape: [2], data: [1, 2] } });
    writeFileSync(file, good.subarray(0, good.length - 4));
    assert.throws(() => loadWeights(file), /bad\.safetensors: tensor "t"/);
    assert.throws(() => encodeSafetensors({ t: { shape: [3], data: [1] } }), /"t"/);
    void readFileSync;
  });
});
