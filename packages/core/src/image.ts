// Pure-JS image helpers shared by the datasets (label resizing) and the engine (thumbnails, previews).

/** Nearest-neighbour resize of an interleaved image with `c` channels. */
export function resizeNearest(src: Uint8Array, w: number, h: number, c: number, nw: number, nh: number): Uint8Array {
  const out = new Uint8Array(nw * nh * c);
  for (let y = 0; y < nh; y++) {
    const sy = Math.min(h - 1, Math.floor(((y + 0.5) * h) / nh));
    for (let x = 0; x < nw; x++) {
      const sx = Math.min(w - 1, Math.floor(((x + 0.5) * w) / nw));
      for (let k = 0; k < c; k++) out[(y * nw + x) * c + k] = src[(sy * w + sx) * c + k]!;
    }
  }
  return out;
}
