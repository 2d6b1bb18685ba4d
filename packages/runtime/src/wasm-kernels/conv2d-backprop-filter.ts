import * as tf from '@tensorflow/tfjs-core';
import { alloc, dispose, threadCount, f32Index, f32View, gemm, makeView, releaseView, type TensorInfo, type WasmBackendLike } from './util.js';

/**
 * Conv2DBackpropFilter for the wasm backend, which does not ship one (tfjs-backend-wasm 4.22.0).
 *
 *   dW[a, b, ci, co] = sum over n, i, j of xpad[n, i*s + a, j*s + b, ci] * dy[n, i, j, co]
 *
 * For each filter tap (a, b) this is one matrix product X_ab [Ci, K] x dy [K, Co] with K = N*Ho*Wo, run on
 * XNNPACK's GEMM. The tap windows X_ab are not copied out: x is written once, channel-major, onto a zero-padded
 * grid laid out so that every tap's window is the same buffer shifted by a constant, i.e. a view. dy is laid on
 * the same grid with zeros at the cells that are not outputs, so whatever else a shifted window reads there is
 * multiplied by zero. Strides > 1 split x into stride x stride phase grids (space-to-depth), in which every tap
 * again reads with stride 1. K is cut into chunks of a few images so each product's operands stay in cache.
 * With few input channels (the first layer) the product for a single tap is too thin for XNNPACK's tiles, so
 * the windows of several taps are copied into one taller matrix instead. For small images with many channels
 * the padding cells would cost more than copying, and the windows are gathered compactly (backpropFilterMethod).
 *
 * What remains beyond the GEMMs themselves (about 40 GFLOP/s, as fast as the forward convolution): XNNPACK packs
 * the dy operand once per call (about 16 ms for [128, 32, 32, 32]) and x is transposed once (about 8 ms).
 */
export function conv2DBackpropFilter(args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap }): TensorInfo {
  const backend = args.backend as WasmBackendLike;
  const x = args.inputs['x']!;
  const dy = args.inputs['dy']!;
  const attrs = (args.attrs ?? {}) as unknown as tf.Conv2DBackpropFilterAttrs;
  const format = tf.backend_util.convertConv2DDataFormat(attrs.dataFormat);
  // the wasm backend's forward Conv2D has the same limits
  if (format !== 'channelsLast') throw new Error(`wasm Conv2DBackpropFilter supports NHWC only, got ${attrs.dataFormat}`);
  if (x.dtype !== 'float32' || dy.dtype !== 'float32') throw new Error(`wasm Conv2DBackpropFilter supports float32 only, got ${x.dtype}`);
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterShape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    format,
  );
  return backpropFilterNhwc(backend, x, dy, info);
}

/**
 * Grid cells (K rows) per GEMM chunk. One thread: a chunk's dy panel then stays in L2 (measured best around 4k).
 * Several threads: each product must be long enough to be worth waking the pool for; with 4k-cell chunks two
 * threads ran a [32 x 4.6k] x [4.6k x 32] product no faster than one. 16k was best of 4k/16k/32k/64k on the
 * reference CNN's and ResNet-18's filter-gradient shapes (2 threads, 2026-11-22).
 */
function chunkCells(backend: WasmBackendLike): number {
  return threadCount(backend) > 1 ? 16384 : 4096;
}
/** Stack taps until a product has about this many rows (XNNPACK's f32 GEMM tiles are 4-6 rows high). */
const TARGET_ROWS = 32;
/** See backpropFilterMethod. */
const COPY_BREAK_EVEN = 100;

/**
 * Length of one grid axis (rows or columns) of a phase grid. Cell u of phase p holds padded coordinate u*s + p.
 * Output i with tap a = a'*s + p reads cell i + a'. Cells past the end wrap into the next row (or image), which is
 * harmless when both the value wanted there and the value found there are padding zeros; that lets consecutive
 * rows share their padding and trims the work spent on padding cells (13% -> 6% at 32x32 for 3x3 'same').
 */
export function gridLength(inSize: number, padBefore: number, stride: number, kernel: number, outSize: number): number {
  const phases = Math.min(stride, kernel);
  const reach = (p: number) => outSize - 1 + Math.floor((kernel - 1 - p) / stride); // last cell phase p needs
  let noWrap = outSize;
  for (let p = 0; p < phases; p++) noWrap = Math.max(noWrap, reach(p) + 1);
  // (a) cells at or past the grid's end must be padding (coordinate >= inSize) for every phase
  let g = Math.max(outSize, Math.ceil((inSize + padBefore) / stride), 1);
  for (; g < noWrap; g++) {
    // (b) a wrapped read lands at cell (u - g) of the next row, which must be leading padding (coordinate < 0);
    // after the last image that next row belongs to another channel or phase, so check the largest phase
    let ok = true;
    for (let p = 0; p < phases && ok; p++) {
      const u = reach(p);
      if (u >= g && (u - g) * stride + (phases - 1) - padBefore >= 0) ok = false;
    }
    if (ok) return g;
  }
  return noWrap;
}

/**
 * Which formulation backpropFilterNhwc uses. Padding cells of the grid cost GEMM work (2*Co flops per x element
 * and tap) while compact copies of the windows cost a fixed time per element: with small images and many output
 * channels (ResNet's last stage: 4x4 images, 512 channels, a 5x5 grid) the copies win. The break-even was
 * measured between 8x8x256 (equal) and 4x4x512 (copies 28% faster).
 */
export function backpropFilterMethod(info: tf.backend_util.Conv2DInfo): 'grid' | 'compact' {
  const hg = gridLength(info.inHeight, info.padInfo.top, info.strideHeight, info.filterHeight, info.outHeight);
  const wg = gridLength(info.inWidth, info.padInfo.left, info.strideWidth, info.filterWidth, info.outWidth);
  const waste = (hg * wg) / Math.max(1, info.outHeight * info.outWidth) - 1;
  return info.outChannels * waste > COPY_BREAK_EVEN ? 'compact' : 'grid';
}

export function backpropFilterNhwc(backend: WasmBackendLike, x: TensorInfo, dy: TensorInfo, info: tf.backend_util.Conv2DInfo): TensorInfo {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outChannels: co, outHeight: ho, outWidth: wo } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  if (n === 0 || ho === 0 || wo === 0 || ci === 0 || co === 0 || h === 0 || w === 0) {
    const zero = alloc(backend, [kh, kw, ci, co]);
    f32View(backend, zero).fill(0);
    return zero;
  }

  const phH = Math.min(sh, kh);
  const phW = Math.min(sw, kw);
  const phases = phH * phW;
  const hg = gridLength(h, top, sh, kh, ho);
  const wg = gridLength(w, left, sw, kw, wo);
  const cell = hg * wg;
  const perChunk = Math.max(1, Math.min(n, Math.round(chunkCells(backend) / cell)));
  const taps = kh * kw;
  const tapShift = (t: number) => Math.floor(Math.floor(t / kw) / sh) * wg + Math.floor((t % kw) / sw);
  const tapPhase = (t: number) => (Math.floor(t / kw) % sh) * phW + ((t % kw) % sw);
  // the largest shift; that many zeros after the grid keep the last window inside the buffer
  const tail = tapShift(taps - 1);
  const group = Math.max(1, Math.min(taps, Math.floor(TARGET_ROWS / ci)));
  if (backpropFilterMethod(info) === 'compact') return compactWindows(backend, x, dy, info);

  const dw = alloc(backend, [kh, kw, ci, co]);
  const gridSize = n * phases * ci * cell + tail;
  const xGrid = alloc(backend, [gridSize]);
  const dyGrid = alloc(backend, [n * cell * co]);
  const out = alloc(backend, [group * ci * co]);
  const stacked = group > 1 ? alloc(backend, [group * ci * perChunk * cell]) : undefined;
  {
    // x -> [chunk][phase][ci][image in chunk][grid row][grid column]
    const xs = f32View(backend, x);
    const gs = f32View(backend, xGrid, gridSize);
    gs.fill(0);
    for (let n0 = 0; n0 < n; n0 += perChunk) {
      const lc = Math.min(perChunk, n - n0) * cell; // row length of this chunk's [phase][ci] rows
      const chunkBase = n0 * phases * ci * cell;
      for (let m = n0; m < Math.min(n, n0 + perChunk); m++) {
        const imageBase = chunkBase + (m - n0) * cell;
        for (let ph = 0; ph < phH; ph++) {
          for (let u = 0; u < hg; u++) {
            const r = u * sh + ph - top; // input row held by grid row u of row phase ph
            if (r < 0 || r >= h) continue; // padding: stays zero
            for (let pw = 0; pw < phW; pw++) {
              // input columns of this phase: c = v*sw + pw - left, for the grid columns v that hold one
              const vLo = Math.max(0, Math.ceil((left - pw) / sw));
              const vHi = Math.min(wg, Math.floor((w - 1 + left - pw) / sw) + 1);
              if (vHi <= vLo) continue;
              const from = ((m * h + r) * w + (vLo * sw + pw - left)) * ci;
              transposeRun(xs, gs, from, sw * ci, vHi - vLo, ci, imageBase + (ph * phW + pw) * ci * lc + u * wg + vLo, lc);
            }
          }
        }
      }
    }
    // dy -> [image][grid row][grid column][co], zero outside the Ho x Wo outputs
    const ds = f32View(backend, dy);
    const dgs = f32View(backend, dyGrid);
    dgs.fill(0);
    const rowLen = wo * co;
    for (let m = 0; m < n; m++) {
      for (let i = 0; i < ho; i++) {
        const src = (m * ho + i) * rowLen;
        dgs.set(ds.subarray(src, src + rowLen), (m * cell + i * wg) * co);
      }
    }
  }

  const acc = new Float64Array(taps * ci * co);
  const gridIndex = f32Index(backend, xGrid);
  for (let n0 = 0; n0 < n; n0 += perChunk) {
    const lc = Math.min(perChunk, n - n0) * cell;
    const chunkBase = gridIndex + n0 * phases * ci * cell;
    const b = makeView(backend, [lc, co], f32Index(backend, dyGrid) + n0 * cell * co);
    for (let t0 = 0; t0 < taps; t0 += group) {
      const g = Math.min(group, taps - t0);
      let a: TensorInfo;
      if (stacked) {
        // copy the g windows one under the other: rows (tap, ci)
        const heap = backend.wasm.HEAPF32;
        const si = f32Index(backend, stacked);
        for (let t = 0; t < g; t++) {
          const from = chunkBase + tapPhase(t0 + t) * ci * lc + tapShift(t0 + t);
          heap.copyWithin(si + t * ci * lc, from, from + ci * lc);
        }
        a = makeView(backend, [g * ci, lc], si);
      } else {
        a = makeView(backend, [ci, lc], chunkBase + tapPhase(t0) * ci * lc + tapShift(t0));
      }
      gemm(backend, a, b, out, g * ci, lc, co);
      releaseView(backend, a);
      const os = f32View(backend, out);
      const base = t0 * ci * co;
      for (let k = 0; k < g * ci * co; k++) acc[base + k] = acc[base + k]! + os[k]!;
    }
    releaseView(backend, b);
  }
  dispose(backend, xGrid, dyGrid, out, stacked);
  f32View(backend, dw).set(acc);
  return dw;
}

/**
 * The same per-tap products, with each tap's window gathered into a compact [taps * Ci, K] matrix (K exactly
 * N*Ho*Wo, no padding cells) and dy used in place as the [K, Co] operand.
 */
function compactWindows(backend: WasmBackendLike, x: TensorInfo, dy: TensorInfo, info: tf.backend_util.Conv2DInfo): TensorInfo {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outChannels: co, outHeight: ho, outWidth: wo } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const taps = kh * kw;
  const plane = ho * wo;
  const perChunk = Math.max(1, Math.min(n, Math.round(chunkCells(backend) / plane)));
  const group = Math.max(1, Math.min(taps, Math.floor(TARGET_ROWS / ci)));
  const dw = alloc(backend, [kh, kw, ci, co]);
  const out = alloc(backend, [group * ci * co]);
  const windows = alloc(backend, [group * ci * perChunk * plane]);
  const acc = new Float64Array(taps * ci * co);
  for (let n0 = 0; n0 < n; n0 += perChunk) {
    const nc = Math.min(perChunk, n - n0);
    const kc = nc * plane;
    const b = makeView(backend, [kc, co], f32Index(backend, dy) + n0 * plane * co);
    for (let t0 = 0; t0 < taps; t0 += group) {
      const g = Math.min(group, taps - t0);
      const xs = f32View(backend, x);
      const ws = f32View(backend, windows);
      for (let t = 0; t < g; t++) {
        const ta = Math.floor((t0 + t) / kw);
        const tb = (t0 + t) % kw;
        const rowBase = t * ci * kc;
        // output columns j whose input column j*sw + tb - left lies inside the image
        const jLo = Math.min(wo, Math.max(0, Math.ceil((left - tb) / sw)));
        const jHi = Math.max(jLo, Math.min(wo, Math.floor((w - 1 + left - tb) / sw) + 1));
        for (let m = 0; m < nc; m++) {
          for (let i = 0; i < ho; i++) {
            const r = i * sh + ta - top;
            const colBase = rowBase + m * plane + i * wo;
            const inside = r >= 0 && r < h;
            for (let k = 0; k < ci; k++) {
              const row = colBase + k * kc;
              if (!inside) ws.fill(0, row, row + wo);
              else {
                if (jLo > 0) ws.fill(0, row, row + jLo);
                if (jHi < wo) ws.fill(0, row + jHi, row + wo);
              }
            }
            if (inside && jHi > jLo) {
              const from = (((n0 + m) * h + r) * w + (jLo * sw + tb - left)) * ci;
              transposeRun(xs, ws, from, sw * ci, jHi - jLo, ci, colBase + jLo, kc);
            }
          }
        }
      }
      const a = makeView(backend, [g * ci, kc], f32Index(backend, windows));
      gemm(backend, a, b, out, g * ci, kc, co);
      releaseView(backend, a);
      const os = f32View(backend, out);
      const base = t0 * ci * co;
      for (let k = 0; k < g * ci * co; k++) acc[base + k] = acc[base + k]! + os[k]!;
    }
    releaseView(backend, b);
  }
  dispose(backend, out, windows);
  f32View(backend, dw).set(acc);
  return dw;
}

/**
 * dst[dstAt + k*stride + j] = src[from + j*step + k] for j < count, k < channels: a run of pixels, channels-last,
 * into channel-major rows. Done in blocks of 16 pixels so each channel row receives whole cache lines; pixel by
 * pixel, hundreds of channels would mean hundreds of scattered write streams (measured 3.5 vs 6 ms for 4M).
 */
function transposeRun(src: Float32Array, dst: Float32Array, from: number, step: number, count: number, channels: number, dstAt: number, stride: number): void {
  for (let j0 = 0; j0 < count; j0 += 16) {
    const j1 = Math.min(count, j0 + 16);
    for (let k = 0; k < channels; k++) {
      const row = dstAt + k * stride;
      let at = from + j0 * step + k;
      for (let j = j0; j < j1; j++, at += step) dst[row + j] = src[at]!;
    }
  }
}

export const conv2DBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilter as unknown as tf.KernelFunc,
};
