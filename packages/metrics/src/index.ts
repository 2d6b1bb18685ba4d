export { correctness, accuracy, percentOf, EVAL_BATCH_SIZE } from './accuracy.js';
export { avgGap, gapOfMeans, type GapOfMeans, type RunMetrics } from './gap.js';
export { registerMetric, getMetric, listMetrics, reportedMetrics, evaluate, outputsOf, type MetricDefinition, type EvaluationContext } from './registry.js';
export { OutputCache, setSamples, type EvaluationSet, type EvaluationSets } from './outputs.js';
export { forgettingRate, memoryRetentionRate, alignmentGap, activationDistance, meanKlDivergence } from './comparison.js';
export { evaluateMembership, primaryAttack, type MembershipSettings, type MembershipSummary } from './membership.js';
export { mean, sampleStd, studentTQuantile, studentTCdf, meanConfidenceInterval, pairedTTest, kendallTau, type MeanSummary, type PairedTTest } from './statistics.js';
export { SpdGenerator, trainSpdGan, perturbedDataset, spdDegree, spdDegreeFrom, accuracyAndConfidence, spdSignature, saveSpdGenerator, loadSpdGenerator, SPD_GAN_DEFAULTS, SPD_GENERATOR_FORMAT, type SpdGanOptions, type SpdGanReport, type SpdDegree } from './spd-gan.js';
