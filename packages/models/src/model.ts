import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@lethe/runtime';
import { ParameterStore, applyDense } from './layers.js';
import type { ModelSpec, Network } from './architectures.js';
import { networkFor } from './registry.js';

export interface ForwardOptions {
  /** training mode: batch norm uses batch statistics and updates its running statistics */
  training: boolean;
}

/**
 * A classifier: a model spec (JSON, enough to rebuild it), its parameters and state by name, and a forward
 * pass. Inputs are float32 NHWC images in [0, 1]; per-channel normalisation, if any, happens inside.
 */
export class Model {
  readonly spec: ModelSpec;
  readonly store: ParameterStore;
  private readonly network: Network;

  private constructor(spec: ModelSpec, store: ParameterStore, network: Network) {
    this.spec = spec;
    this.store = store;
    this.network = network;
  }

  /** A freshly initialised model; the same spec and seed give identical weights on every backend. */
  static create(spec: ModelSpec, seed: number): Model {
    const network = networkFor(spec);
    const store = new ParameterStore();
    network.build(store, new Rng(seed).fork('init'));
    return new Model(spec, store, network);
  }

  get params(): ReadonlyMap<string, tf.Variable> {
    return this.store.params;
  }

  get state(): ReadonlyMap<string, tf.Variable> {
    return this.store.state;
  }

  /** Trainable parameters as a list, in creation order (what optimisers and gradient calls take). */
  trainableVariables(): tf.Variable[] {
    return [...this.store.params.values()];
  }

  parameterCount(): number {
    let n = 0;
    for (const v of this.store.params.values()) n += v.size;
    return n;
  }

  private normalize(x: tf.Tensor4D): tf.Tensor4D {
    const norm = this.spec.normalization;
    if (!norm) return x;
    return tf.div(tf.sub(x, tf.tensor1d(norm.mean)), tf.tensor1d(norm.std));
  }

  /** Penultimate-layer features, [N, D]. */
  features(x: tf.Tensor4D, options: ForwardOptions = { training: false }): tf.Tensor2D {
    return tf.tidy(() => this.network.features(this.store, this.normalize(x), options.training));
  }

  /** Logits, [N, numClasses]. */
  logits(x: tf.Tensor4D, options: ForwardOptions = { training: false }): tf.Tensor2D {
    return tf.tidy(() => applyDense(this.store, this.network.head, this.network.features(this.store, this.normalize(x), options.training)));
  }

  /** A deep copy with the same spec, parameters and state. */
  clone(): Model {
    const copy = Model.create(this.spec, 0);
    copy.copyFrom(this);
    return copy;
  }

  /** Overwrite this model's parameters and state with another's (same spec). */
  copyFrom(other: Model): void {
    const assignAll = (to: ReadonlyMap<string, tf.Variable>, from: ReadonlyMap<string, tf.Variable>): void => {
      for (const [name, v] of to) {
        const src = from.get(name);
        if (!src) throw new Error(`cannot copy weights: source model has no variable '${name}'`);
        if (src.shape.join('x') !== v.shape.join('x')) throw new Error(`cannot copy weights: '${name}' has shape [${src.shape}] in the source and [${v.shape}] here`);
        v.assign(src);
      }
    };
    assignAll(this.store.params, other.store.params);
    assignAll(this.store.state, other.store.state);
  }

  dispose(): void {
    this.store.dispose();
  }
}
