import * as tf from '@tensorflow/tfjs-core';

/**
 * Stochastic gradient descent with momentum and weight decay, with PyTorch's torch.optim.SGD semantics
 * (dampening 0, no Nesterov), because the papers' recipes are stated for it:
 *   g <- grad + weightDecay * w;  buf <- momentum * buf + g;  w <- w - lr * buf
 * An optional per-parameter mask multiplies the update (SalUn-style masked unlearning): a masked-out entry
 * receives no gradient, no weight decay and no momentum, so it stays bit-identical.
 */
export interface SgdConfig {
  /** base learning rate; a schedule scales it per epoch */
  lr: number;
  momentum: number;
  weightDecay: number;
}

export class Sgd {
  private readonly buffers = new Map<string, tf.Variable>();

  constructor(readonly config: SgdConfig) {
    if (!(config.lr >= 0)) throw new Error(`SGD learning rate must be >= 0, got ${config.lr}`);
    if (!(config.momentum >= 0 && config.momentum < 1)) throw new Error(`SGD momentum must be in [0, 1), got ${config.momentum}`);
    if (!(config.weightDecay >= 0)) throw new Error(`SGD weight decay must be >= 0, got ${config.weightDecay}`);
  }

  /**
   * Apply one update to each named parameter that has a gradient. `grads` and `masks` are keyed by the
   * model's parameter names.
   */
  step(params: ReadonlyMap<string, tf.Variable>, grads: ReadonlyMap<string, tf.Tensor>, lr: number, masks?: ReadonlyMap<string, tf.Tensor>): void {
    const { momentum, weightDecay } = this.config;
    tf.tidy(() => {
      for (const [name, v] of params) {
        const grad = grads.get(name);
        if (!grad) continue;
        const mask = masks?.get(name);
        let g = weightDecay > 0 ? tf.add(grad, tf.mul(v, weightDecay)) : grad;
        if (mask) g = tf.mul(g, mask);
        let update = g;
        if (momentum > 0) {
          let buf = this.buffers.get(name);
          if (!buf) {
            // PyTorch initialises the buffer with the first gradient itself
            buf = tf.variable(g, false);
            this.buffers.set(name, buf);
          } else {
            buf.assign(tf.add(tf.mul(buf, momentum), g));
          }
          update = buf;
        }
        v.assign(tf.sub(v, tf.mul(update, lr)));
      }
    });
  }

  /** The momentum buffers by parameter name (a checkpoint of the optimiser; empty before the first step). */
  momentumState(): Map<string, Float32Array> {
    return new Map([...this.buffers].map(([name, b]) => [name, b.dataSync() as Float32Array]));
  }

  /** Continue from saved momentum buffers (shapes from the parameters they belong to). */
  restoreMomentum(params: ReadonlyMap<string, tf.Variable>, state: ReadonlyMap<string, Float32Array>): void {
    for (const [name, values] of state) {
      const v = params.get(name);
      if (!v) throw new Error(`saved momentum for '${name}', which is not a trainable parameter`);
      if (values.length !== v.size) throw new Error(`saved momentum for '${name}' has ${values.length} values, the parameter ${v.size}`);
      this.buffers.get(name)?.dispose();
      const initial = tf.tensor(values, v.shape, 'float32');
      this.buffers.set(name, tf.variable(initial, false));
      initial.dispose(); // the variable holds its own copy
    }
  }

  dispose(): void {
    for (const b of this.buffers.values()) b.dispose();
    this.buffers.clear();
  }
}
