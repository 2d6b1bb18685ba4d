import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@lethe/runtime';
import {
  ParameterStore,
  applyBatchNorm,
  applyConvBatchNormInference,
  type BatchNormEpilogue,
  applyConv,
  applyDense,
  createBatchNorm,
  createConv,
  createDense,
  type BatchNormSpec,
  type ConvSpec,
  type DenseSpec,
} from './layers.js';

/** Per-channel input normalisation done inside the model, so that attacks work in [0, 1] pixel space. */
export interface InputNormalization {
  mean: number[];
  std: number[];
}

/**
 * What a model is, as JSON: enough to rebuild it (with a seed) and to key its cache entries. `arch` names a registered
 * architecture (registry.ts); the other fields beyond the shape and normalisation are that architecture's options.
 */
export interface ModelSpec {
  arch: string;
  numClasses: number;
  inputShape: [number, number, number];
  normalization?: InputNormalization | null;
  [option: string]: unknown;
}

export interface SmallCnnSpec extends ModelSpec {
  arch: 'small-cnn';
  batchNorm: boolean;
  /**
   * channel width multiplier (32-32-64 channels times `width`, rounded); absent = 1, the reference CNN. Left out of
   * the spec at 1, so that cache keys of width-1 models are those of before the option existed.
   */
  width?: number;
}

export interface ResNet18Spec extends ModelSpec {
  arch: 'resnet18';
  /** channel width multiplier: 1 is the standard 64-128-256-512 network */
  width: number;
}

/**
 * The revision of the function the networks compute for a given spec. A spec names a model's architecture, not
 * the arithmetic behind it: when a change makes some network compute a different function for the same spec
 * (padding, layer order, initialisation, normalisation), bump this, so that caches keyed by the spec (trained
 * original, gold and reference models) never hand back a model trained as the old network.
 *
 * 1: the first networks. 2: stride-2 convolutions pad symmetrically ((k - 1) / 2 on every side, PyTorch's
 * `padding=1` for 3x3), not TensorFlow's 'same' (0 before, 1 after on even sizes); this changed ResNet-18, and
 * not the small CNN, whose convolutions all have stride 1. With every bump, update the `sameFunctionSince` of each
 * architecture it changes (registry.ts).
 */
export const NETWORK_REVISION = 2;

/** Batch-norm defaults of PyTorch's nn.BatchNorm2d (momentum 0.1, eps 1e-5), which the papers' code uses. */
const BN_MOMENTUM = 0.1;
const BN_EPSILON = 1e-5;

function bn(name: string, channels: number): BatchNormSpec {
  return { name, channels, momentum: BN_MOMENTUM, epsilon: BN_EPSILON };
}

/** The layer graph of a model: how to build its variables and how to run it. */
export interface Network {
  build(store: ParameterStore, rng: Rng): void;
  /** penultimate features, [N, D] */
  features(store: ParameterStore, x: tf.Tensor4D, training: boolean): tf.Tensor2D;
  head: DenseSpec;
}

/**
 * The reference small CNN (issue "Foundation"): conv3x3 32 -> conv3x3 32 -> maxpool -> conv3x3 64 -> maxpool
 * -> dense (channels times `width`), ReLU after each convolution, batch norm after each convolution when enabled (then the convolution
 * has no bias, as BN's shift makes it redundant).
 */
function smallCnn(spec: SmallCnnSpec): Network {
  const [h, w, c] = spec.inputShape;
  const width = spec.width ?? 1;
  if (!(width > 0)) throw new Error(`small-cnn width must be positive, got ${width}`);
  const [c1, c2, c3] = [32, 32, 64].map((ch) => Math.max(1, Math.round(ch * width))) as [number, number, number];
  const convs: ConvSpec[] = [
    { name: 'conv1', inChannels: c, outChannels: c1, kernel: 3, stride: 1, bias: !spec.batchNorm },
    { name: 'conv2', inChannels: c1, outChannels: c2, kernel: 3, stride: 1, bias: !spec.batchNorm },
    { name: 'conv3', inChannels: c2, outChannels: c3, kernel: 3, stride: 1, bias: !spec.batchNorm },
  ];
  const flat = Math.floor(h / 4) * Math.floor(w / 4) * c3;
  const head: DenseSpec = { name: 'dense', inUnits: flat, outUnits: spec.numClasses };
  const convBlock = (store: ParameterStore, conv: ConvSpec, x: tf.Tensor4D, training: boolean): tf.Tensor4D => {
    if (!spec.batchNorm) return tf.relu(applyConv(store, conv, x));
    const norm = bn(`${conv.name}.bn`, conv.outChannels);
    if (!training) return applyConvBatchNormInference(store, conv, norm, x, { relu: true });
    return applyBatchNorm(store, norm, applyConv(store, conv, x), training, { relu: true });
  };
  return {
    head,
    build(store, rng) {
      for (const conv of convs) {
        createConv(store, rng, conv);
        if (spec.batchNorm) createBatchNorm(store, bn(`${conv.name}.bn`, conv.outChannels));
      }
      createDense(store, rng, head);
    },
    features(store, x, training) {
      let y = convBlock(store, convs[0]!, x, training);
      y = convBlock(store, convs[1]!, y, training);
      y = tf.maxPool(y, 2, 2, 'valid');
      y = convBlock(store, convs[2]!, y, training);
      y = tf.maxPool(y, 2, 2, 'valid');
      return tf.reshape(y, [y.shape[0], flat]);
    },
  };
}

/**
 * ResNet-18 for 32x32 inputs as used by the unlearning literature's CIFAR code (the "kuangliu" variant): a 3x3
 * stride-1 stem with no max-pool, four stages of two basic blocks (64, 128, 256, 512 channels times `width`,
 * strides 1, 2, 2, 2), a 1x1 convolution + BN shortcut where the shape changes, global average pooling, dense.
 */
function resnet18(spec: ResNet18Spec): Network {
  if (!(spec.width > 0)) throw new Error(`resnet18 width must be positive, got ${spec.width}`);
  const [, , c] = spec.inputShape;
  const channels = [64, 128, 256, 512].map((ch) => Math.max(1, Math.round(ch * spec.width)));
  const stem: ConvSpec = { name: 'stem', inChannels: c, outChannels: channels[0]!, kernel: 3, stride: 1, bias: false };
  interface Block { conv1: ConvSpec; conv2: ConvSpec; shortcut: ConvSpec | null }
  const blocks: Block[] = [];
  let inCh = channels[0]!;
  channels.forEach((outCh, stage) => {
    for (let b = 0; b < 2; b++) {
      const stride = b === 0 && stage > 0 ? 2 : 1;
      const name = `layer${stage + 1}.${b}`;
      blocks.push({
        conv1: { name: `${name}.conv1`, inChannels: inCh, outChannels: outCh, kernel: 3, stride, bias: false },
        conv2: { name: `${name}.conv2`, inChannels: outCh, outChannels: outCh, kernel: 3, stride: 1, bias: false },
        shortcut: stride !== 1 || inCh !== outCh ? { name: `${name}.shortcut`, inChannels: inCh, outChannels: outCh, kernel: 1, stride, bias: false } : null,
      });
      inCh = outCh;
    }
  });
  const head: DenseSpec = { name: 'dense', inUnits: inCh, outUnits: spec.numClasses };
  const convBn = (store: ParameterStore, conv: ConvSpec, x: tf.Tensor4D, training: boolean, epilogue: BatchNormEpilogue = {}): tf.Tensor4D =>
    training
      ? applyBatchNorm(store, bn(`${conv.name}.bn`, conv.outChannels), applyConv(store, conv, x), true, epilogue)
      : applyConvBatchNormInference(store, conv, bn(`${conv.name}.bn`, conv.outChannels), x, epilogue);
  return {
    head,
    build(store, rng) {
      const convs = [stem, ...blocks.flatMap((b) => (b.shortcut ? [b.conv1, b.conv2, b.shortcut] : [b.conv1, b.conv2]))];
      for (const conv of convs) {
        createConv(store, rng, conv);
        createBatchNorm(store, bn(`${conv.name}.bn`, conv.outChannels));
      }
      createDense(store, rng, head);
    },
    features(store, x, training) {
      let y = convBn(store, stem, x, training, { relu: true });
      for (const block of blocks) {
        const residual = block.shortcut ? convBn(store, block.shortcut, y, training) : y;
        const z = convBn(store, block.conv1, y, training, { relu: true });
        y = convBn(store, block.conv2, z, training, { residual, relu: true });
      }
      return tf.mean(y, [1, 2]) as tf.Tensor2D;
    },
  };
}

export { applyDense, smallCnn, resnet18 };
