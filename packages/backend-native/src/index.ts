export { INSTALL_ADVICE, NativeUnavailableError, addonPath, loadAddon, nativeAvailability, type NativeAddon } from './addon.js';
export { NativeBackend } from './native-backend.js';
export {
  kernelProfile,
  nativeKernels,
  registerNativeBackend,
  WINOGRAD_ENV,
  resetKernelProfile,
  setKernelProfiling,
  type NativeBackendInfo,
} from './register.js';
export { reductionView } from './kernels/reduce.js';
export { BATCH_NORM_TRAIN, BATCH_NORM_TRAIN_GRAD, type BatchNormTrainAttrs } from './kernels/batch-norm.js';
