export { modelOutputs, selectOutputs, probabilities, correctPredictions, trueLabelConfidence, logitScaledConfidence, predictionEntropy, modifiedEntropy, sampleSignals, selectSignals, taylorSoftMargin, taylorSoftMarginOf, truncatedExp, TAYLOR_SOFT_MARGIN_DEFAULTS, type ModelOutputs, type SampleSignals, type TaylorSoftMarginParameters } from './outputs.js';
export { rocAuc, rocCurve, tprAtFpr, rocAtFprGrid, ROC_FPR_GRID, type RocPoint, type RocGrid } from './roc.js';
export { outReferences, equalizedOutReferences, type ReferenceSignal } from './references.js';
export { liraOfflineScores, type LiraOptions } from './lira.js';
export { rmiaOfflineScores, rmiaOnlineScores, relativeScores, type RmiaOptions, type RmiaOnlineOptions } from './rmia.js';
export { svcMembershipInference, svcFeatureRows, SVC_FEATURES, type SvcFeature, type SvcMiaOptions, type SvcMiaResult } from './svc.js';
export { rbfSvcFitPredict, loadLibsvm, type RbfSvcOptions } from './libsvm.js';
export {
  registerMembershipAttack,
  getMembershipAttack,
  listMembershipAttacks,
  resolveAttackOptions,
  runMembershipAttack,
  type MembershipAttackDefinition,
  type MembershipAttackInput,
  type MembershipAttackResult,
  type ReferenceModelSignals,
} from './registry.js';
export { RMIA_MODES, RMIA_SIGNALS, RMIA_POPULATIONS, RMIA_DEFAULTS, type RmiaAttackOptions } from './attacks.js';
