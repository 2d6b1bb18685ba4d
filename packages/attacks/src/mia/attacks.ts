import { z } from 'zod';
import { Rng } from '@lethe/runtime';
import { logitScaledConfidence, taylorSoftMargin, trueLabelConfidence, TAYLOR_SOFT_MARGIN_DEFAULTS, type ModelOutputs, type SampleSignals, type TaylorSoftMarginParameters } from './outputs.js';
import { rocAtFprGrid, rocAuc, tprAtFpr } from './roc.js';
import { svcMembershipInference, SVC_FEATURES } from './svc.js';
import { liraOfflineScores } from './lira.js';
import { rmiaOfflineScores, rmiaOnlineScores } from './rmia.js';
import { registerMembershipAttack, type MembershipAttackInput, type MembershipAttackResult, type ReferenceModelSignals } from './registry.js';
import type { ReferenceSignal } from './references.js';

/** The built-in attacks: `svc-mia`, `lira`, `rmia`. */

const svcOptions = z
  .object({
    feature: z.enum(SVC_FEATURES).default('confidence'),
    /** SVC(C=3, ...) in SalUn's / l1-sparse's evaluation/SVC_MIA.py */
    cost: z.number().positive().default(3),
    /** gamma='auto' (1 / number of features) in the same code */
    gamma: z.union([z.literal('auto'), z.number().positive()]).default('auto'),
  })
  .strict();

registerMembershipAttack({
  name: 'svc-mia',
  description: "SVC MIA-efficacy: an RBF SVM on the model's confidence, trained on D_r (member) vs D_t (non-member), balanced; the percentage of D_f it calls non-member",
  paper: 'Jia et al. 2023 (l1-sparse, arXiv 2304.04934); Fan et al. 2024 (SalUn, arXiv 2310.12508); public code OPTML-Group evaluation/SVC_MIA.py',
  needsReferenceModels: false,
  options: svcOptions,
  async run(input, options): Promise<MembershipAttackResult> {
    const { efficacy } = await svcMembershipInference(input.target.retain, input.target.test, input.target.forget, { ...options, seed: input.seed });
    return { attack: 'svc-mia', efficacy };
  },
});

/** The per-sample signal a reference-model attack compares, with how to compute it from a model's logits. */
type SignalChoice = { name: 'softmax' } | { name: 'logit-scaled-confidence' } | { name: 'taylor-soft-margin'; parameters: TaylorSoftMarginParameters };

function signalOfOutputs(outputs: ModelOutputs, choice: SignalChoice): Float64Array {
  switch (choice.name) {
    case 'softmax':
      return trueLabelConfidence(outputs);
    case 'logit-scaled-confidence':
      return logitScaledConfidence(outputs);
    case 'taylor-soft-margin':
      return taylorSoftMargin(outputs, choice.parameters);
  }
}

/** The signal from precomputed per-sample signals (which hold the softmax and logit-scaled confidences only). */
function signalOfSampleSignals(signals: SampleSignals, choice: SignalChoice): Float64Array {
  if (choice.name === 'softmax') return signals.confidence;
  if (choice.name === 'logit-scaled-confidence') return signals.logitConfidence;
  throw new Error(`the '${choice.name}' signal is computed from logits, not from precomputed per-sample signals`);
}

interface ScoredSamples {
  /** the target model's signal on the forget samples, then the test samples, then (withRetain) the retain samples */
  target: Float64Array;
  /** every reference model's signal and IN mask on the same samples */
  signal: ReferenceSignal;
  forgetCount: number;
  testCount: number;
  retainCount: number;
}

const concat = (parts: ArrayLike<number>[], Type: Float64ArrayConstructor | Uint8ArrayConstructor = Float64Array): Float64Array | Uint8Array => {
  const out = new Type(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

function checkOutputs(field: string, list: ModelOutputs[], K: number, expected: ModelOutputs): void {
  if (list.length !== K) throw new Error(`reference signals: ${list.length} entries in references.${field} for ${K} reference models`);
  list.forEach((o, k) => {
    if (o.count !== expected.count || o.numClasses !== expected.numClasses) throw new Error(`reference model ${k}: references.${field} has ${o.count} samples of ${o.numClasses} classes, expected ${expected.count} of ${expected.numClasses} (the target's)`);
    for (let i = 0; i < o.count; i++) if (o.labels[i] !== expected.labels[i]) throw new Error(`reference model ${k}: references.${field} sample ${i} has label ${o.labels[i]}, the target's has ${expected.labels[i]}; they must be the same samples in the same order`);
  });
}

function checkMasks(field: string, masks: Uint8Array[], K: number, count: number): void {
  if (masks.length !== K) throw new Error(`reference signals: ${masks.length} masks in references.${field} for ${K} reference models`);
  masks.forEach((m, k) => {
    if (m.length !== count) throw new Error(`reference model ${k}: references.${field} has ${m.length} entries for ${count} samples`);
  });
}

/**
 * The samples reference-model attacks score: the forget set, then the test set, and with `withRetain` the retain
 * set after them (for RMIA's population 'all'). Test samples are OUT for every reference model unless
 * `references.testIncluded` says otherwise; offline attacks then use only each sample's OUT reference models
 * (equalizedOutReferences), test samples as forget samples.
 */
function scoredSamples(input: MembershipAttackInput, references: ReferenceModelSignals, choice: SignalChoice, options: { withRetain: boolean; who: string }): ScoredSamples {
  const { forget: targetForget, test: targetTest, retain: targetRetain } = input.target;
  const nf = targetForget.count;
  const nt = targetTest.count;
  const K = references.forget.length;
  if (references.test.length !== K || references.forgetIncluded.length !== K) {
    throw new Error(`reference signals: ${K} forget-set entries, ${references.test.length} test-set entries and ${references.forgetIncluded.length} membership masks; they must match`);
  }
  references.forget.forEach((s, k) => {
    if (s.confidence.length !== nf || references.test[k]!.confidence.length !== nt) throw new Error(`reference model ${k}: signals for ${s.confidence.length} forget and ${references.test[k]!.confidence.length} test samples, expected ${nf} and ${nt}`);
  });
  checkMasks('forgetIncluded', references.forgetIncluded, K, nf);
  if (references.testIncluded) checkMasks('testIncluded', references.testIncluded, K, nt);
  if (references.forgetOutputs) checkOutputs('forgetOutputs', references.forgetOutputs, K, targetForget);
  if (references.testOutputs) checkOutputs('testOutputs', references.testOutputs, K, targetTest);

  // the precomputed signals hold the softmax and logit-scaled confidences; any other signal needs the logits
  const fromOutputs = choice.name === 'taylor-soft-margin';
  if (fromOutputs) {
    const missing = [references.forgetOutputs ? null : 'references.forgetOutputs', references.testOutputs ? null : 'references.testOutputs'].filter((m) => m !== null);
    if (missing.length > 0) throw new Error(`${options.who}: the '${choice.name}' signal is computed from the reference models' logits on the forget and test samples, and ${missing.join(' and ')} ${missing.length === 1 ? 'is' : 'are'} missing; pass them, or use signal 'softmax'`);
  }
  let retainCount = 0;
  if (options.withRetain) {
    const missing = [references.retainOutputs ? null : 'references.retainOutputs', references.retainIncluded ? null : 'references.retainIncluded'].filter((m) => m !== null);
    if (missing.length > 0) throw new Error(`${options.who}: population 'all' compares with the retain samples too, and ${missing.join(' and ')} ${missing.length === 1 ? 'is' : 'are'} missing; pass the reference models' logits on the retain samples and which of them each trained on, or use population 'test'`);
    checkOutputs('retainOutputs', references.retainOutputs!, K, targetRetain);
    checkMasks('retainIncluded', references.retainIncluded!, K, targetRetain.count);
    retainCount = targetRetain.count;
  }

  const values = Array.from({ length: K }, (_, k) => {
    const forget = fromOutputs ? signalOfOutputs(references.forgetOutputs![k]!, choice) : signalOfSampleSignals(references.forget[k]!, choice);
    const test = fromOutputs ? signalOfOutputs(references.testOutputs![k]!, choice) : signalOfSampleSignals(references.test[k]!, choice);
    return concat(options.withRetain ? [forget, test, signalOfOutputs(references.retainOutputs![k]!, choice)] : [forget, test]) as Float64Array;
  });
  const included = Array.from({ length: K }, (_, k) => {
    const parts: ArrayLike<number>[] = [references.forgetIncluded[k]!, references.testIncluded?.[k] ?? new Uint8Array(nt)];
    if (options.withRetain) parts.push(references.retainIncluded![k]!);
    return concat(parts, Uint8Array) as Uint8Array;
  });
  const targetParts = [signalOfOutputs(targetForget, choice), signalOfOutputs(targetTest, choice)];
  if (options.withRetain) targetParts.push(signalOfOutputs(targetRetain, choice));
  return { target: concat(targetParts) as Float64Array, signal: { values, included }, forgetCount: nf, testCount: nt, retainCount };
}

/** FT AUC and TPR at 1% FPR of the first forgetCount scores (D_f) against the next testCount (D_t). */
function rocSummary(attack: string, scores: Float64Array, samples: Pick<ScoredSamples, 'forgetCount' | 'testCount'>, described: Partial<MembershipAttackResult>): MembershipAttackResult {
  const forget = scores.subarray(0, samples.forgetCount);
  const test = scores.subarray(samples.forgetCount, samples.forgetCount + samples.testCount);
  return { attack, ftAuc: 100 * rocAuc(forget, test), tprAt1Fpr: 100 * tprAtFpr(forget, test, 0.01), roc: rocAtFprGrid(forget, test), ...described };
}

const outReferencesOption = z.number().int().positive().optional();

registerMembershipAttack({
  name: 'lira',
  description: "offline LiRA: Gaussian fit of the OUT reference models' logit-scaled confidences; one-sided test of the model's; AUC of D_f vs D_t",
  paper: 'Carlini et al. 2022, Membership Inference Attacks From First Principles (IEEE S&P), offline variant',
  needsReferenceModels: true,
  options: z
    .object({
      /** global variance below 64 OUT models ('auto'), as Carlini et al. recommend for few shadow models */
      fixedVariance: z.union([z.boolean(), z.literal('auto')]).default('auto'),
      outReferences: outReferencesOption,
    })
    .strict(),
  async run(input, options): Promise<MembershipAttackResult> {
    const samples = scoredSamples(input, input.references!, { name: 'logit-scaled-confidence' }, { withRetain: false, who: "membership attack 'lira'" });
    const { target, signal } = samples;
    const scores = liraOfflineScores(target, signal, { fixedVariance: options.fixedVariance, ...(options.outReferences !== undefined ? { outReferences: options.outReferences } : {}), seed: input.seed });
    return rocSummary('lira', scores, samples, { referenceModels: signal.values.length, outReferences: options.outReferences ?? outCount(signal, target.length), mode: 'offline', signal: 'logit-scaled-confidence' });
  },
});

export const RMIA_MODES = ['offline', 'online'] as const;
export const RMIA_SIGNALS = ['softmax', 'taylor-soft-margin'] as const;
export const RMIA_POPULATIONS = ['test', 'forget-and-test', 'all'] as const;

/**
 * The `rmia` options that are left out of resolved options when not given (so that configs written before they
 * existed resolve, hash and run as before), with the values the attack then uses.
 */
export const RMIA_DEFAULTS = Object.freeze({
  mode: 'offline' as (typeof RMIA_MODES)[number],
  signal: 'softmax' as (typeof RMIA_SIGNALS)[number],
  population: 'test' as (typeof RMIA_POPULATIONS)[number],
  ...TAYLOR_SOFT_MARGIN_DEFAULTS,
});

const TAYLOR_ONLY = ['temperature', 'margin', 'taylorTerms'] as const;

/** Option combinations that mean nothing, refused with the fix (checked on what was written, before defaults). */
function checkRmiaCombination(raw: unknown, ctx: z.RefinementCtx): unknown {
  if (typeof raw !== 'object' || raw === null) return raw;
  const written = raw as Record<string, unknown>;
  if (written.mode === 'online') {
    if ('offlineA' in written) ctx.addIssue({ code: 'custom', path: ['offlineA'], message: "offlineA is the offline estimate of Pr(x) from OUT models and applies to mode 'offline' only (online RMIA averages all reference models, IN and OUT); remove offlineA or set mode: 'offline'" });
    if ('outReferences' in written) ctx.addIssue({ code: 'custom', path: ['outReferences'], message: "outReferences applies to mode 'offline' only (online RMIA's Pr(x) is the mean over all K reference models); remove outReferences or set mode: 'offline'" });
  }
  if (written.signal !== 'taylor-soft-margin') {
    for (const key of TAYLOR_ONLY) {
      if (key in written) ctx.addIssue({ code: 'custom', path: [key], message: `${key} applies to signal 'taylor-soft-margin' only (the 'softmax' signal is the plain softmax probability of the true label); set signal: 'taylor-soft-margin' or remove ${key}` });
    }
  }
  return raw;
}

const rmiaOptions = z
  .preprocess(
    checkRmiaCombination,
    z
      .object({
        /**
         * 'offline' (default, as before this option existed): Pr(x) from each sample's OUT reference models with the
         * approximation a. 'online': Pr(x) = the mean over all K reference models, which must have trained on random
         * halves of train + test; this is what AMUN evaluates with (Ali-E/AMUN rmia_evaluate.py, `compute_rmia_online`).
         */
        mode: z.enum(RMIA_MODES).optional(),
        /**
         * Pr(x|theta): 'softmax' (default), the softmax probability of the true label; 'taylor-soft-margin', AMUN's
         * (rmia_evaluate.py `--prob_method taylor-soft-margin`), from the logits (see taylorSoftMarginOf).
         */
        signal: z.enum(RMIA_SIGNALS).optional(),
        /** taylor-soft-margin's temperature T: 2 (AMUN `--temp 2`; RMIA authors' online config `temperature: 2.0`) */
        temperature: z.number().positive().optional(),
        /** taylor-soft-margin's margin m: 0.6 (AMUN `taylor_m: 0.6`; RMIA authors' config `taylor_m: 0.6`) */
        margin: z.number().optional(),
        /** taylor-soft-margin's Taylor terms n: 4 (AMUN `taylor_n: 4`; RMIA authors' config `taylor_n: 4`) */
        taylorTerms: z.number().int().min(2).optional(),
        /** offline approximation a: 0.3, the default of the authors' public code (ml_privacy_meter); mode 'offline' only */
        offlineA: z.number().min(0).max(1).default(0.3),
        /**
         * gamma = 1: "x dominates z" when LR(x, z) > 1, as in the authors' offline code. AMUN's online evaluation uses 2
         * (rmia_evaluate.py `--gamma 2.`, also the RMIA authors' online config); the default stays 1 so that existing
         * configs keep their results, and presets that reproduce AMUN set gamma: 2.
         */
        gamma: z.number().positive().default(1),
        /**
         * the population z, every sample compared with all of it but itself:
         * - 'test' (default, as before this option existed): the test samples. Forget samples are then compared with
         *   P test samples and test samples with the P - 1 others; with gamma > 1 most scores are small counts, and a
         *   forget sample's k/P loses to a test sample's k/(P - 1), which pulls the AUC below 50 for groups that are
         *   alike. Prefer one of the two below with gamma 2.
         * - 'forget-and-test': the forget and the test samples, so every scored sample is compared with the same
         *   number of others.
         * - 'all': every forget, test and retain sample, the whole training set plus the test set, as AMUN's
         *   rmia_evaluate.py compares x with all 60,000 images but itself; needs the reference models' retain outputs.
         */
        population: z.enum(RMIA_POPULATIONS).optional(),
        /** this many of the population (seeded draw); default all of it, each sample never compared with itself */
        populationSize: z.number().int().positive().optional(),
        outReferences: outReferencesOption,
      })
      .strict(),
  )
  // online RMIA has no parameter a: do not show the default one in its resolved options
  .transform((resolved): Omit<typeof resolved, 'offlineA'> & { offlineA?: number } => {
    if (resolved.mode !== 'online') return resolved;
    const { offlineA: _unused, ...online } = resolved;
    return online;
  });

export type RmiaAttackOptions = z.output<typeof rmiaOptions>;

registerMembershipAttack({
  name: 'rmia',
  description: "RMIA: likelihood ratio of the model's Pr(x|theta) against reference models' Pr(x), compared with population samples z; offline (OUT models, the default) or online (all models, as AMUN evaluates); AUC of D_f vs D_t",
  paper: 'Zarifzadeh et al. 2024, Low-Cost High-Power Membership Inference Attacks (ICML); online variant as AMUN evaluates with it (arXiv 2503.00917; public code Ali-E/AMUN, rmia_evaluate.py)',
  needsReferenceModels: true,
  options: rmiaOptions,
  async run(input, options): Promise<MembershipAttackResult> {
    const who = "membership attack 'rmia'";
    const mode = options.mode ?? RMIA_DEFAULTS.mode;
    const signalName = options.signal ?? RMIA_DEFAULTS.signal;
    const population = options.population ?? RMIA_DEFAULTS.population;
    const references = input.references!;
    const choice: SignalChoice =
      signalName === 'softmax'
        ? { name: 'softmax' }
        : { name: 'taylor-soft-margin', parameters: { temperature: options.temperature ?? RMIA_DEFAULTS.temperature, margin: options.margin ?? RMIA_DEFAULTS.margin, taylorTerms: options.taylorTerms ?? RMIA_DEFAULTS.taylorTerms } };
    if (mode === 'online') {
      const fix = "online RMIA's reference models train on random halves of train + test (AMUN's rmia_evaluate.py), so that every scored sample is IN for about half of them; train them so, or use mode 'offline'";
      if (!references.testIncluded) throw new Error(`${who} in mode 'online' needs references.testIncluded (which test samples each reference model trained on), and it is missing: ${fix}`);
      if (!references.testIncluded.some((m) => m.some((v) => v !== 0))) throw new Error(`${who} in mode 'online': references.testIncluded marks no test sample IN for any reference model; ${fix}`);
    }
    const samples = scoredSamples(input, references, choice, { withRetain: population === 'all', who });
    const { target, signal, forgetCount, testCount } = samples;
    const candidates = population === 'all' ? target.length : population === 'forget-and-test' ? forgetCount + testCount : testCount;
    const first = population === 'test' ? forgetCount : 0;
    const size = Math.min(options.populationSize ?? candidates, candidates);
    const positions = size === candidates ? Int32Array.from({ length: candidates }, (_, i) => first + i) : Int32Array.from(new Rng(input.seed).fork('rmia-population').sample(candidates, size), (i) => first + i);
    const described = { referenceModels: signal.values.length, mode, signal: signalName };
    if (mode === 'online') {
      const scores = rmiaOnlineScores(target, signal, { gamma: options.gamma, population: positions });
      return rocSummary('rmia', scores, samples, described);
    }
    const scores = rmiaOfflineScores(target, signal, {
      offlineA: options.offlineA ?? 0.3,
      gamma: options.gamma,
      population: positions,
      ...(options.outReferences !== undefined ? { outReferences: options.outReferences } : {}),
      seed: input.seed,
    });
    return rocSummary('rmia', scores, samples, { ...described, outReferences: options.outReferences ?? outCount(signal, target.length) });
  },
});

function outCount(signal: ReferenceSignal, n: number): number {
  let fewest = Infinity;
  for (let i = 0; i < n; i++) {
    let c = 0;
    for (let k = 0; k < signal.values.length; k++) if (!signal.included?.[k]![i]) c++;
    fewest = Math.min(fewest, c);
  }
  return fewest;
}
