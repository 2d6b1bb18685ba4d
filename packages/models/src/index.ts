export { Model, type ForwardOptions } from './model.js';
export type { ModelSpec, SmallCnnSpec, ResNet18Spec, InputNormalization } from './architectures.js';
export { NETWORK_REVISION } from './architectures.js';
export { ParameterStore } from './layers.js';
export { saveModel, loadModel, isSavedModel, readModelMetadata, savedModelProblem, MODEL_FORMAT, type LoadModelOptions, type SaveModelOptions } from './io.js';
