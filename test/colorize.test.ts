// Rendering helpers of @adaptseg/engine (eval): exact pixels on tiny arrays.
import assert from "node:assert/strict";
import { decode } from "fast-png";
import { resizeNearest } from "@adaptseg/core";
import { colorize, encodePng, legendEntries, overlay } from "@adaptseg/engine";
import type { RGB } from "@adaptseg/core";

const palette: RGB[] = [
  [128, 64, 128],
  [244, 35, 232],
  [70, 70, 70],
];

describe("eval: colorize, overlay, resize, legend, PNG", () => {
  it("colorize maps ids through the palette; ids outside it get the ignore colour", () => {
    const ids = Uint8Array.from([0, 2, 255, 1]);
    assert.deepEqual(Array.from(colorize(ids, palette)), [128, 64, 128, 70, 70, 70, 0, 0, 0, 244, 35, 232]);
    assert.deepEqual(Array.from(colorize(Uint8Array.from([3]), palette, [1, 2, 3])), [1, 2, 3]);
  });

  it("overlay blends alpha * mask + (1 - alpha) * image, rounded", () => {
    const image = Uint8Array.from([100, 0, 255, 10]);
    const mask = Uint8Array.from([201, 255, 0, 10]);
    // alpha 0.5: 150.5 -> 151, 127.5 -> 128, 127.5 -> 128, 10
    assert.deepEqual(Array.from(overlay(image, mask)), [151, 128, 128, 10]);
    // alpha 0.25: 0.25*201 + 0.75*100 = 125.25 -> 125; 63.75 -> 64; 191.25 -> 191; 10
    assert.deepEqual(Array.from(overlay(image, mask, 0.25)), [125, 64, 191, 10]);
    assert.throws(() => overlay(image, mask.subarray(1)), /image has 4 values, mask 3/);
  });

  it("resizeNearest up and down, with channels", () => {
    // 2x2 one-channel [1 2; 3 4] -> 4x4: source row/col = floor((x + 0.5) / 2) = 0 0 1 1
    const up = resizeNearest(Uint8Array.from([1, 2, 3, 4]), 2, 2, 1, 4, 4);
    assert.deepEqual(Array.from(up), [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
    // 4x1 -> 2x1: source col = floor((x + 0.5) * 2) = 1, 3
    assert.deepEqual(Array.from(resizeNearest(Uint8Array.from([10, 11, 12, 13]), 4, 1, 1, 2, 1)), [11, 13]);
    // 2x1 two-channel -> 3x1: source col = floor((x + 0.5) * 2 / 3) = 0, 1, 1
    assert.deepEqual(Array.from(resizeNearest(Uint8Array.from([1, 2, 3, 4]), 2, 1, 2, 3, 1)), [1, 2, 3, 4, 3, 4]);
  });

  it("legendEntries lists present classes, most frequent first, share of all pixels", () => {
    const ids = Uint8Array.from([2, 2, 2, 0, 255, 2, 0, 255]);
    const classes = ["road", "side<walk>", "building"];
    const e = legendEntries(ids, { classes, palette });
    assert.deepEqual(e, [
      { id: 2, name: "building", color: [70, 70, 70], share: 4 / 8 },
      { id: 0, name: "road", color: [128, 64, 128], share: 2 / 8 },
    ]);
  });

  it("encodePng round-trips through fast-png decode (1, 3 and 4 channels)", () => {
    for (const channels of [1, 3, 4] as const) {
      const w = 5;
      const h = 3;
      const data = Uint8Array.from({ length: w * h * channels }, (_, i) => (i * 37 + 11) % 256);
      const p = decode(encodePng(data, w, h, channels));
      assert.equal(p.width, w);
      assert.equal(p.height, h);
      assert.equal(p.channels, channels);
      assert.equal(p.depth, 8);
      assert.deepEqual(Array.from(p.data), Array.from(data));
    }
  });
});
