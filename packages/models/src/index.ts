export { Model, type ForwardOptions } from './model.js';
export type { ModelSpec, SmallCnnSpec, ResNet18Spec, InputNormalization, Network } from './architectures.js';
export { registerArchitecture, getArchitecture, listArchitectures, unregisterArchitecture, networkFor, type ArchitectureDefinition } from './registry.js';
export { NETWORK_REVISION } from './architectures.js';
export { ParameterStore, createConv, applyConv, createBatchNorm, applyBatchNorm, applyConvBatchNormInference, createDense, applyDense, heNormal, fanInUniform, type ConvSpec, type BatchNormSpec, type BatchNormEpilogue, type DenseSpec } from './layers.js';
export { saveModel, loadModel, isSavedModel, readModelMetadata, savedModelProblem, MODEL_FORMAT, type LoadModelOptions, type SaveModelOptions } from './io.js';
