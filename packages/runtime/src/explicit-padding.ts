import * as tf from '@tensorflow/tfjs-core';

/**
 * Convolution gradients with explicit padding for backends whose gradient kernels accept only 'same' and 'valid'.
 *
 * tfjs-node and tfjs-node-gpu 4.22.0 (the 'tensorflow' backend) run Conv2D with explicit padding, but their
 * Conv2DBackpropInput and Conv2DBackpropFilter throw for it ("TF Backend supports only 'valid' and 'same' padding
 * while padding was EXPLICIT", dist/kernels/Conv2DBackprop*.js), so tf.grad through such a convolution fails.
 * @lethe/models pads ResNet-18's stride-2 convolutions explicitly, as PyTorch's padding=1 does.
 *
 * A convolution with explicit padding is a 'valid' convolution of the zero-padded input, so:
 *   filter gradient = the backend's 'valid' filter gradient of (padded x, dy);
 *   input gradient  = the backend's 'valid' input gradient for the padded input shape, with the padding cut off.
 * Both are built from the backend's own kernels (PadV2, Slice and the gradient kernels with 'valid'), so the
 * arithmetic stays on the backend; 'same' and 'valid' go straight to the wrapped kernel.
 */

const MARK = Symbol.for('lethe.explicitPaddingGradient');
type Marked = tf.KernelFunc & { [MARK]?: true };
type KernelArgs = Parameters<tf.KernelFunc>[0];

/** The kernels wrapped, in registration order. */
export const explicitPaddingKernels: readonly string[] = [tf.Conv2DBackpropFilter, tf.Conv2DBackpropInput];

function kernel(name: string, backendName: string): tf.KernelFunc {
  const config = tf.getKernel(name, backendName);
  if (!config) throw new Error(`backend '${backendName}' has no '${name}' kernel, which explicit padding needs`);
  return config.kernelFunc;
}

function single(out: tf.TensorInfo | tf.TensorInfo[], name: string): tf.TensorInfo {
  if (Array.isArray(out)) throw new Error(`kernel '${name}' returned several outputs`);
  return out;
}

/** Padding the wrapped kernel cannot take (EXPLICIT or a number), as [top, bottom, left, right]; else undefined. */
function padToApply(info: tf.backend_util.Conv2DInfo): [number, number, number, number] | undefined {
  const { type, top, bottom, left, right } = info.padInfo;
  if (type === 'SAME' || type === 'VALID') return undefined;
  return [top, bottom, left, right];
}

function channelsLast(dataFormat: unknown): boolean {
  return dataFormat === undefined || dataFormat === 'NHWC';
}

function padded(args: KernelArgs, backendName: string, x: tf.TensorInfo, [top, bottom, left, right]: [number, number, number, number]): tf.TensorInfo {
  const attrs = { paddings: [[0, 0], [top, bottom], [left, right], [0, 0]], constantValue: 0 };
  return single(kernel(tf.PadV2, backendName)({ inputs: { x }, backend: args.backend, attrs }), tf.PadV2);
}

function filterGradient(wrapped: tf.KernelFunc, backendName: string): tf.KernelFunc {
  return (args) => {
    const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
    const attrs = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
    if (!channelsLast(attrs.dataFormat)) return wrapped(args); // Lethe is NHWC only; let the backend decide
    const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], attrs.filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
    const pad = padToApply(info);
    if (!pad) return wrapped(args);
    const xPadded = padded(args, backendName, x, pad);
    try {
      return wrapped({ inputs: { x: xPadded, dy }, backend: args.backend, attrs: { ...args.attrs, pad: 'valid' } });
    } finally {
      (args.backend as tf.KernelBackend).disposeData(xPadded.dataId);
    }
  };
}

function inputGradient(wrapped: tf.KernelFunc, backendName: string): tf.KernelFunc {
  return (args) => {
    const { filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
    const attrs = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
    if (!channelsLast(attrs.dataFormat)) return wrapped(args);
    const [n, h, w, c] = attrs.inputShape;
    const info = tf.backend_util.computeConv2DInfo(attrs.inputShape, filter.shape as [number, number, number, number], attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
    const pad = padToApply(info);
    if (!pad) return wrapped(args);
    const [top, bottom, left, right] = pad;
    const paddedShape = [n, h + top + bottom, w + left + right, c];
    const dxPadded = single(wrapped({ ...args, attrs: { ...args.attrs, inputShape: paddedShape, pad: 'valid' } }), tf.Conv2DBackpropInput);
    try {
      // the gradient that reached the padding cells belongs to no input
      return kernel(tf.Slice, backendName)({ inputs: { x: dxPadded }, backend: args.backend, attrs: { begin: [0, top, left, 0], size: [n, h, w, c] } });
    } finally {
      (args.backend as tf.KernelBackend).disposeData(dxPadded.dataId);
    }
  };
}

/**
 * Wrap `backendName`'s Conv2DBackpropFilter and Conv2DBackpropInput so they accept explicit padding (idempotent).
 * Returns the kernel names wrapped by this call.
 */
export function registerExplicitPaddingGradients(backendName: string): string[] {
  const done: string[] = [];
  for (const name of explicitPaddingKernels) {
    const config = tf.getKernel(name, backendName);
    if (!config) throw new Error(`backend '${backendName}' has no '${name}' kernel to wrap`);
    if ((config.kernelFunc as Marked)[MARK] === true) continue;
    const make = name === tf.Conv2DBackpropFilter ? filterGradient : inputGradient;
    const fn = make(config.kernelFunc, backendName) as Marked;
    fn[MARK] = true;
    tf.unregisterKernel(name, backendName);
    tf.registerKernel({ ...config, kernelFunc: fn });
    done.push(name);
  }
  return done;
}
