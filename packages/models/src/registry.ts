import { z } from 'zod';
import { Registry } from '@lethe/runtime/registry';
import { resnet18, smallCnn, type InputNormalization, type ModelSpec, type Network, type ResNet18Spec, type SmallCnnSpec } from './architectures.js';

/**
 * The model architectures, by name: a benchmark config's `model.arch` names one, its other fields are the
 * architecture's options (validated by its schema), and the spec the architecture builds from them and the data set's
 * shape names every cached model. Adding an architecture is one definition plus one `registerArchitecture` call.
 */
export interface ArchitectureDefinition {
  /** the spec's and the config's `arch`, e.g. 'resnet18' */
  name: string;
  /** one line for `lethe plan` and documentation */
  description: string;
  /** where it comes from */
  paper: string;
  /** the config options besides `arch` and `normalize`, with their defaults (a strict object schema) */
  options: z.ZodType<Record<string, unknown>>;
  /** the spec of a model with these (validated) options on data of this shape */
  spec(options: Record<string, unknown>, data: { numClasses: number; inputShape: [number, number, number]; normalization: InputNormalization | null }): ModelSpec;
  /** the layer graph of a spec (throws on options it cannot build) */
  network(spec: ModelSpec): Network;
  /** a spec in words, e.g. 'ResNet-18 (width 0.125)' */
  describe(spec: ModelSpec): string;
  /**
   * The first NETWORK_REVISION since which the architecture computes its current function: a model saved at an
   * earlier revision was trained as a different network and is not loaded (io.ts). Update it with every bump that
   * changes this architecture.
   */
  sameFunctionSince: number;
}

const registry = new Registry<ArchitectureDefinition>('model architecture');

export function registerArchitecture(definition: ArchitectureDefinition): void {
  registry.register(definition);
}

export function getArchitecture(name: string): ArchitectureDefinition {
  return registry.get(name);
}

export function listArchitectures(): ArchitectureDefinition[] {
  return registry.list();
}

/** Remove an architecture (tests, plug-ins that replace one). */
export function unregisterArchitecture(name: string): boolean {
  return registry.unregister(name);
}

/** The layer graph of a spec, from its architecture's definition. */
export function networkFor(spec: ModelSpec): Network {
  return getArchitecture(spec.arch).network(spec);
}

const width = z.number().positive().default(1);

registerArchitecture({
  name: 'small-cnn',
  description: 'the reference small CNN: conv3x3 32 -> conv3x3 32 -> maxpool -> conv3x3 64 -> maxpool -> dense (channels times width)',
  paper: "Lethe's reference CNN (issue \"Foundation\")",
  options: z
    .object({
      /** batch norm after each convolution */
      batchNorm: z.boolean().default(false),
      /** channel width multiplier (1: 32-32-64 channels) */
      width,
    })
    .strict(),
  // width 1 stays out of the spec, so that cache keys of width-1 models are those of before the option existed
  spec: (o, data) => ({ arch: 'small-cnn', batchNorm: o.batchNorm as boolean, ...(o.width !== 1 ? { width: o.width as number } : {}), ...data }),
  network: (spec) => smallCnn(spec as SmallCnnSpec),
  describe: (spec) => `small CNN${spec.batchNorm ? ' with batch norm' : ''}${typeof spec.width === 'number' && spec.width !== 1 ? ` (width ${spec.width})` : ''}`,
  sameFunctionSince: 1,
});

registerArchitecture({
  name: 'resnet18',
  description: "ResNet-18 for 32x32 inputs as in the unlearning papers' CIFAR code (3x3 stem, no max-pool; channels 64-128-256-512 times width)",
  paper: 'He et al., "Deep Residual Learning for Image Recognition", CVPR 2016; the CIFAR variant of the AMUN, SalUn and SCRUB code',
  options: z
    .object({
      /** channel width multiplier (1: the standard 64-128-256-512 network) */
      width,
    })
    .strict(),
  spec: (o, data) => ({ arch: 'resnet18', width: o.width as number, ...data }),
  network: (spec) => resnet18(spec as ResNet18Spec),
  describe: (spec) => `ResNet-18 (width ${String(spec.width)})`,
  // revision 2 made its stride-2 convolutions pad symmetrically, as PyTorch's padding=1
  sameFunctionSince: 2,
});
