export { Rng, hashString, combineSeeds } from './rng.js';
export { liveTensorCount, assertTensorCountFlat } from './memory.js';
export {
  BACKEND_NAMES,
  BackendUnavailableError,
  backendInfo,
  initBackend,
  parseBackendName,
  type BackendInfo,
  type BackendName,
} from './backend.js';
export { registerWasmTrainingKernels, restoreShippedWasmKernels } from './wasm-kernels/index.js';
export { MAX_WASM_THREADS, WASM_THREADS_ENV, requestedWasmThreads } from './wasm-threads.js';
export { WasmHeapFullError } from './wasm-heap.js';
export { Registry } from './registry.js';
export { writeFileAtomic, writeJsonAtomic, writeHeaderFile, readHeaderFile, removeStaleTemporaries } from './files.js';
export { FUSED_BATCH_NORM, FUSED_BATCH_NORM_ENV, fusedBatchNormActive, fusedBatchNormDisabled, fusedBatchNormTrain, type FusedBatchNormOptions } from './fused-batch-norm.js';
