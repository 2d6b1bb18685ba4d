export { trainLoop, crossEntropyLoss, TrainingStopped, type Batch, type LossFunction, type TrainLoopOptions, type TrainProgress, type TrainReport, type TrainCheckpointer, type TrainCheckpointState } from './training/loop.js';
export { variableGradsReleasing } from './training/grads.js';
export { Sgd, type SgdConfig } from './training/sgd.js';
export { learningRateAt, type LrSchedule } from './training/schedule.js';
export { crossEntropy, perSampleCrossEntropy } from './training/loss.js';
export { trainFromScratch, epochBatches, stepsPerEpoch, type TrainingRecipe, type EpochBatchOptions } from './training/recipe.js';
export { SETTINGS, type Setting, type UnlearningTask, type UnlearnerDefinition, type TaskSizes, type Workload, type ArtefactRequest, type ArtefactTask } from './unlearner.js';
export { registerUnlearner, getUnlearner, listUnlearners, resolveHyperParameters } from './registry.js';
export { builtInUnlearners } from './unlearners/index.js';
export { retrainFromScratch } from './unlearners/retrain.js';
// TMU's generalisation-label predictor pieces (for tests and notebooks)
export { tmu, computeTmuFeatures, heldOutSet, relabelHardSamples, type TmuFeatures, type TmuHyperParameters } from './unlearners/tmu.js';
export { distanceFeature, adversarialFeature, lossFeature, normalizedFeatures, correctlyClassified, FEATURE_NAMES, type FeatureName } from './unlearners/tmu/features.js';
export { quantile, iqrFences, fitFeatureScaler, applyFeatureScaler, type FeatureScaler } from './unlearners/tmu/scaling.js';
export { GeneralisationPredictor, binaryCrossEntropyWithLogits, PREDICTOR_HIDDEN_UNITS, type PredictorTrainingOptions } from './unlearners/tmu/predictor.js';
export { gatherSamples, type SampleSet } from './unlearners/tmu/data.js';
// Top-K / Random-k perturbation pieces
export { perturbationCount, selectTopK, selectRandomK } from './unlearners/perturbation/select.js';
export { parameterLayout, forgetLossGradient, flatParameters, perturbEntries, type ParameterLayout, type PerturbOptions } from './unlearners/perturbation/perturb.js';
// Baselines' reusable pieces: SalUn's saliency mask (also used by AMUN+SalUn), RL's relabelling, loss terms
export { saliencyMask, topEntries, type SaliencyMaskOptions } from './unlearners/saliency.js';
export { relabelledDataset, randomLabelBatches, randomLabelFields, type RandomLabelHyperParameters } from './unlearners/random-label.js';
export { gradientAscentLoss } from './unlearners/gradient-ascent.js';
export { negGradPlusLoss } from './unlearners/neggrad-plus.js';
export { l1WeightAt } from './unlearners/l1-sparse.js';
export { distillationKl } from './unlearners/scrub.js';
// AMUN's adversarial set (searched, cached) and Boundary Shrink's relabelling, for tests and variants (AMUN+SalUn)
export {
  amun,
  runAmun,
  amunHyperParameters,
  amunAdversarialArtefact,
  amunWorkload,
  amunAttackOptions,
  amunAdversarialSet,
  adversarialDataset,
  describeAdversarialSet,
  cachedAmunAdversarialSet,
  adversarialSetKey,
  clearAdversarialSetMemory,
  readAdversarialSet,
  writeAdversarialSet,
  AMUN_ATTACK_DEFAULTS,
  type AmunHyperParameters,
  type AmunAdversarialSet,
  type AmunAttackOptions,
  type AmunAttackProgress,
  type CachedAdversarialSet,
  type RunAmunOptions,
} from './unlearners/amun.js';
export { boundaryShrink, boundaryShrinkLabels, runBoundaryShrink, type BoundaryShrinkHyperParameters, type BoundaryShrinkLabelOptions } from './unlearners/boundary-shrink.js';
export { mixedEpochBatches, mixedCount, type BatchSource, type MixedBatchOptions } from './unlearners/mixed-batches.js';
