import * as tf from '@tensorflow/tfjs-core';

/**
 * Gradients of a loss with respect to variables, as `tf.variableGrads` computes them (same kernels, same order, the
 * same numbers), but holding less memory during the backward pass.
 *
 * Why: tfjs records each kernel of the forward pass on a tape, with clones of the tensors its gradient needs (its
 * "saved" tensors: the activations), and walks the tape backwards. It frees the saved tensors, and the gradient of
 * every intermediate tensor, only when the whole backward pass is over, so its peak holds every activation and every
 * intermediate gradient of the step at once. Here each tape node's saved tensors and the gradients of its outputs are
 * disposed as soon as the backward pass has moved past that node (when the next node's gradient is asked for): no
 * other node reads them (each node saves its own clones; an output's gradient is only its producer's input), so
 * their memory returns to the backend while the rest of the backward pass runs, and the native backend's buffer pool
 * hands it to the next gradients. On ResNet-18 this lowers the peak of a training step (benchmarks/RESULTS.md).
 *
 * How: tfjs has no hook for this, so the loss function is wrapped: once it has run (the tape is complete and not yet
 * walked) every node's gradient function is wrapped to release the previous node first. This relies on tfjs-core
 * 4.x internals (`engine.state.activeTape`, tape nodes' `gradient` and `saved`); when they are not there (another
 * tfjs version) or the call is nested inside another gradient computation (higher-order gradients), it is plain
 * `tf.variableGrads`. A gradient function that hands back one of its own inputs (an output gradient or a saved
 * tensor) gets a clone of it instead, so that releasing that input cannot free a gradient still in use.
 */
export function variableGradsReleasing(
  f: () => tf.Scalar,
  variables: tf.Variable[],
  options: { release?: boolean; onBackwardNode?: () => void } = {},
): { value: tf.Scalar; grads: tf.NamedTensorMap } {
  const release = options.release ?? true;
  if (!release && !options.onBackwardNode) return tf.variableGrads(f, variables);
  const engine = tf.engine() as unknown as EngineInternals;
  return tf.variableGrads(() => {
    const y = f();
    const tape = engine.state?.activeTape;
    if (engine.state?.gradientDepth === 1 && Array.isArray(tape)) wrapTape(tape, release, options.onBackwardNode);
    return y;
  }, variables);
}

/** The parts of tfjs-core's engine and tape nodes used here (tfjs-core 4.x, engine.ts and tape.ts). */
interface EngineInternals {
  state?: { activeTape?: TapeNode[] | null; gradientDepth?: number };
}
interface TapeNode {
  gradient?: (dys: Array<tf.Tensor | null>) => Record<string, () => tf.Tensor>;
  saved?: tf.Tensor[];
}

function wrapTape(tape: TapeNode[], release: boolean, onBackwardNode: (() => void) | undefined): void {
  let done: { node: TapeNode; dys: Array<tf.Tensor | null> } | null = null;
  const releaseDone = (): void => {
    if (!done) return;
    for (const t of done.node.saved ?? []) t.dispose();
    for (const dy of done.dys) dy?.dispose();
    done = null;
  };
  for (const node of tape) {
    const gradient = node.gradient;
    if (!gradient) continue;
    node.gradient = (dys) => {
      // the backward pass walks the tape once, in reverse: the node before this one is finished
      if (release) releaseDone();
      onBackwardNode?.();
      const thunks = gradient(dys);
      if (!release) return thunks;
      done = { node, dys: [...dys] };
      const saved = node.saved ?? [];
      const guarded: Record<string, () => tf.Tensor> = {};
      for (const name in thunks) {
        const thunk = thunks[name]!;
        guarded[name] = () => {
          const dx = thunk();
          return dys.includes(dx) || saved.includes(dx) ? dx.clone() : dx;
        };
      }
      return guarded;
    };
  }
}
