import * as tf from '@tensorflow/tfjs-core';
import { cpuFallback, nativeBackend, allFloat32, size, params, NATIVE, type KernelArgs, type TensorInfo } from './util.js';

/**
 * Conv2D, its input and filter gradients, and FusedConv2D (bias + relu) on oneDNN, NHWC only (tfjs's default
 * and the only layout Lethe uses); NCHW and non-float32 inputs go to the cpu kernels.
 */

const p = params(18);

/** oneDNN's conv parameters for a tfjs Conv2DInfo, or undefined when oneDNN's size arithmetic disagrees. */
function convParams(c: tf.backend_util.Conv2DInfo, relu = false): Int32Array | undefined {
  const { batchSize, inHeight, inWidth, inChannels, filterHeight, filterWidth, outChannels, outHeight, outWidth } = c;
  const { strideHeight, strideWidth, dilationHeight, dilationWidth } = c;
  const { top, bottom, left, right } = c.padInfo;
  if ([batchSize, inHeight, inWidth, inChannels, outChannels, outHeight, outWidth].some((d) => d <= 0)) return undefined;
  // oneDNN requires out = floor((in + padBefore + padAfter - effectiveFilter) / stride) + 1
  const consistent = (inSize: number, eff: number, pb: number, pa: number, stride: number, out: number): boolean =>
    Math.floor((inSize + pb + pa - eff) / stride) + 1 === out;
  if (!consistent(inHeight, c.effectiveFilterHeight, top, bottom, strideHeight, outHeight)) return undefined;
  if (!consistent(inWidth, c.effectiveFilterWidth, left, right, strideWidth, outWidth)) return undefined;
  p.set([
    batchSize, inHeight, inWidth, inChannels, filterHeight, filterWidth, outChannels, outHeight, outWidth,
    strideHeight, strideWidth, dilationHeight, dilationWidth, top, bottom, left, right, relu ? 1 : 0,
  ]);
  return p;
}

function channelsLast(dataFormat: unknown): boolean {
  return dataFormat === undefined || dataFormat === 'NHWC' || dataFormat === 'channelsLast';
}

function conv2D(args: KernelArgs): TensorInfo | TensorInfo[] {
  const { x, filter } = args.inputs as { x: TensorInfo; filter: TensorInfo };
  const { strides, pad, dataFormat, dilations, dimRoundingMode } = args.attrs as unknown as tf.Conv2DAttrs;
  if (!channelsLast(dataFormat) || !allFloat32(x, filter)) return cpuFallback(tf.Conv2D, args);
  const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filter.shape as [number, number, number, number], strides, dilations, pad, dimRoundingMode, false, 'channelsLast');
  const cp = convParams(info);
  if (!cp) return cpuFallback(tf.Conv2D, args);
  const b = nativeBackend(args);
  const out = b.alloc(size(info.outShape));
  b.addon.conv2d(0, cp, b.f32(x), b.f32(filter), out, null);
  return b.output(info.outShape, out);
}

function conv2DBackpropInput(args: KernelArgs): TensorInfo | TensorInfo[] {
  const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
  const { inputShape, strides, pad, dataFormat, dimRoundingMode } = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
  if (!channelsLast(dataFormat) || !allFloat32(dy, filter)) return cpuFallback(tf.Conv2DBackpropInput, args);
  const info = tf.backend_util.computeConv2DInfo(inputShape, filter.shape as [number, number, number, number], strides, 1, pad, dimRoundingMode, false, 'channelsLast');
  const cp = convParams(info);
  if (!cp || info.outShape.join() !== dy.shape.join()) return cpuFallback(tf.Conv2DBackpropInput, args);
  const b = nativeBackend(args);
  const out = b.alloc(size(inputShape));
  b.addon.conv2d(1, cp, b.f32(dy), b.f32(filter), out, null);
  return b.output([...inputShape], out);
}

function conv2DBackpropFilter(args: KernelArgs): TensorInfo | TensorInfo[] {
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  if (!channelsLast(dataFormat) || !allFloat32(x, dy)) return cpuFallback(tf.Conv2DBackpropFilter, args);
  const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode, false, 'channelsLast');
  const cp = convParams(info);
  if (!cp || info.outShape.join() !== dy.shape.join()) return cpuFallback(tf.Conv2DBackpropFilter, args);
  const b = nativeBackend(args);
  const out = b.alloc(size(filterShape));
  if (hitsStridedOneByOneBug(info)) stridedOneByOneFilterGradient(b, info, b.f32(x), b.f32(dy), out);
  else b.addon.conv2d(2, cp, b.f32(x), b.f32(dy), out, null);
  return b.output([...filterShape], out);
}

/**
 * oneDNN 2.x computes the filter gradient of a 1x1 convolution with stride > 1 by first copying the strided input
 * pixels into a per-thread workspace ("reduce to unit stride"). With NHWC input and fewer input channels than its
 * channel block (8 floats on AVX2, 16 on AVX-512) it places each copy as if the channels filled a whole block, so a
 * thread writes into the next thread's workspace: wrong gradients depending on thread timing, and hangs. Measured
 * here (oneDNN 2.6.3, jit_1x1:avx2, 2 threads): 1x1 stride 2 on 2x16x16x5 wrong in 20 of 20 runs, on 2x8x8x5 in 8
 * of 20; hangs at 2x16x16x3 and 2x32x32x4; right with one thread, and with 8 or more channels. Reported as
 * uxlfoundation/oneDNN issue #6035 (open), which finds AVX-512 affected below 16 channels. A ResNet-18's first
 * strided shortcut has 64 * width input channels: 8 at width 0.125, 4 at width 0.0625.
 */
function hitsStridedOneByOneBug(info: tf.backend_util.Conv2DInfo): boolean {
  return info.filterHeight === 1 && info.filterWidth === 1 && (info.strideHeight > 1 || info.strideWidth > 1) && info.inChannels < 16;
}

const gemmParams = params(12);

/**
 * The filter gradient of a 1x1 convolution, dW[ci][co] = sum over output pixels p of x[pixel read by p][ci] * dy[p][co],
 * as one matrix product Xᵀ dy on oneDNN's GEMM: X [N*Ho*Wo, Ci] holds the input pixel each output reads (zero where
 * it reads padding). Only used for the few-channel case above, where X is small.
 */
function stridedOneByOneFilterGradient(b: ReturnType<typeof nativeBackend>, info: tf.backend_util.Conv2DInfo, x: Float32Array, dy: Float32Array, out: Float32Array): void {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outHeight: ho, outWidth: wo, outChannels: co, strideHeight: sh, strideWidth: sw } = info;
  const { top, left } = info.padInfo;
  const pixels = n * ho * wo;
  const gathered = new Float32Array(pixels * ci); // zero-filled: outputs reading padding contribute nothing
  for (let m = 0; m < n; m++) {
    for (let i = 0; i < ho; i++) {
      const r = i * sh - top;
      if (r < 0 || r >= h) continue;
      for (let j = 0; j < wo; j++) {
        const c = j * sw - left;
        if (c < 0 || c >= w) continue;
        const from = ((m * h + r) * w + c) * ci;
        const to = ((m * ho + i) * wo + j) * ci;
        for (let k = 0; k < ci; k++) gathered[to + k] = x[from + k]!;
      }
    }
  }
  // [transA, transB, M, N, K, lda, strideA, ldb, strideB, ldc, strideC, batch]: C [Ci, Co] = Aᵀ [Ci, K] B [K, Co]
  gemmParams.set([1, 0, ci, co, pixels, ci, 0, co, 0, co, 0, 1]);
  b.addon.sgemm(gemmParams, gathered, dy, out);
}

/** FusedConv2D with an optional per-channel bias and 'linear' or 'relu' activation; anything else goes to cpu. */
function fusedConv2D(args: KernelArgs): TensorInfo | TensorInfo[] {
  const { x, filter, bias, preluActivationWeights } = args.inputs as { x: TensorInfo; filter: TensorInfo; bias?: TensorInfo; preluActivationWeights?: TensorInfo };
  const { strides, pad, dataFormat, dilations, dimRoundingMode, activation } = args.attrs as unknown as tf.FusedConv2DAttrs;
  const outChannels = filter.shape[3]!;
  const biasOk = bias === undefined || (bias.shape.length === 1 && bias.shape[0] === outChannels);
  const activationOk = activation === undefined || activation === 'linear' || activation === 'relu';
  if (!channelsLast(dataFormat) || !allFloat32(x, filter, bias) || !biasOk || !activationOk || preluActivationWeights !== undefined) {
    return cpuFallback(tf.FusedConv2D, args);
  }
  const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filter.shape as [number, number, number, number], strides, dilations, pad, dimRoundingMode, false, 'channelsLast');
  const cp = convParams(info, activation === 'relu');
  if (!cp) return cpuFallback(tf.FusedConv2D, args);
  const b = nativeBackend(args);
  const out = b.alloc(size(info.outShape));
  b.addon.conv2d(0, cp, b.f32(x), b.f32(filter), out, bias ? b.f32(bias) : null);
  return b.output(info.outShape, out);
}

export const convKernels: tf.KernelConfig[] = [
  { kernelName: tf.Conv2D, backendName: NATIVE, kernelFunc: conv2D },
  { kernelName: tf.Conv2DBackpropInput, backendName: NATIVE, kernelFunc: conv2DBackpropInput },
  { kernelName: tf.Conv2DBackpropFilter, backendName: NATIVE, kernelFunc: conv2DBackpropFilter },
  { kernelName: tf.FusedConv2D, backendName: NATIVE, kernelFunc: fusedConv2D },
];
