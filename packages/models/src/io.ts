import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { writeFileAtomic } from '@lethe/runtime/files';
import { Model } from './model.js';
import { NETWORK_REVISION, type ModelSpec } from './architectures.js';
import { getArchitecture } from './registry.js';

/**
 * On-disk format of a saved model: a directory with `weights.bin` (float32 little-endian, variables
 * concatenated in the order listed) and `model.json` (spec, variable table, SHA-256 of weights.bin, and any
 * metadata the caller adds). model.json is written last, by atomic rename, so a directory without it is an
 * unfinished save and is never loaded.
 */
export const MODEL_FORMAT = 'lethe.model/v1';

interface VariableEntry {
  name: string;
  kind: 'param' | 'state';
  shape: number[];
  /** offset in float32 elements */
  offset: number;
}

interface ModelJson {
  format: typeof MODEL_FORMAT;
  spec: ModelSpec;
  /** NETWORK_REVISION of the code that saved it; absent in saves from before revision 2, i.e. revision 1 */
  networkRevision?: number;
  variables: VariableEntry[];
  weightsSha256: string;
  /** the cache key the model was saved under (its directory's name in a cache); absent in older saves */
  cacheKey?: string;
  /**
   * SHA-256 of everything above that decides what the weights compute (format, spec, revision, variable table, weights
   * hash, cache key), so an edited model.json (a changed normalisation, a shifted or swapped offset) is refused rather
   * than loaded as another function; absent in older saves
   */
  manifestSha256?: string;
  metadata: Record<string, unknown>;
}

export interface SaveModelOptions {
  /** the cache key the model is saved under: recorded, and checked by loadModel({ cacheKey }) */
  cacheKey?: string;
}

export interface LoadModelOptions {
  /** the spec the caller expects (the one its cache key was computed from): a save of another spec is refused */
  spec?: ModelSpec;
  /** the key the directory is stored under: a save recording another key is refused (older saves record none) */
  cacheKey?: string;
}

const writeAtomic = writeFileAtomic;

/** JSON with object keys sorted at every level: the same value always gives the same text. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

function manifestSha256(json: Omit<ModelJson, 'manifestSha256' | 'metadata'>): string {
  const { format, spec, networkRevision, variables, weightsSha256, cacheKey } = json;
  return crypto.createHash('sha256').update(canonicalJson({ format, spec, networkRevision, variables, weightsSha256, cacheKey: cacheKey ?? null })).digest('hex');
}

export async function saveModel(model: Model, dir: string, metadata: Record<string, unknown> = {}, options: SaveModelOptions = {}): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  const entries: VariableEntry[] = [];
  const chunks: Float32Array[] = [];
  let offset = 0;
  const collect = async (kind: 'param' | 'state', vars: ReadonlyMap<string, tf.Variable>): Promise<void> => {
    for (const [name, v] of vars) {
      const data = (await v.data()) as Float32Array;
      entries.push({ name, kind, shape: v.shape, offset });
      chunks.push(data);
      offset += data.length;
    }
  };
  await collect('param', model.params);
  await collect('state', model.state);
  const weights = new Float32Array(offset);
  let at = 0;
  for (const c of chunks) {
    weights.set(c, at);
    at += c.length;
  }
  const bytes = new Uint8Array(weights.buffer);
  // remove a stale model.json first so that a crash between the two writes leaves no mismatched pair
  fs.rmSync(path.join(dir, 'model.json'), { force: true });
  writeAtomic(path.join(dir, 'weights.bin'), bytes);
  const manifest = {
    format: MODEL_FORMAT,
    spec: model.spec,
    networkRevision: NETWORK_REVISION,
    variables: entries,
    weightsSha256: crypto.createHash('sha256').update(bytes).digest('hex'),
    ...(options.cacheKey !== undefined ? { cacheKey: options.cacheKey } : {}),
  } satisfies Omit<ModelJson, 'metadata'>;
  const json: ModelJson = { ...manifest, manifestSha256: manifestSha256(manifest), metadata };
  writeAtomic(path.join(dir, 'model.json'), JSON.stringify(json, null, 2));
}

/** True when `dir` holds a completed save. */
export function isSavedModel(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'model.json'));
}

export function readModelMetadata(dir: string): Record<string, unknown> {
  return readModelJson(dir).metadata;
}

function readModelJson(dir: string): ModelJson {
  const file = path.join(dir, 'model.json');
  if (!fs.existsSync(file)) throw new Error(`no saved model in '${dir}' (model.json is missing; an interrupted save leaves none)`);
  let json: ModelJson;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8')) as ModelJson;
  } catch (err) {
    throw new Error(`'${file}' is not readable JSON (${(err as Error).message}); delete '${dir}' so the model is trained again`);
  }
  if (typeof json !== 'object' || json === null) throw new Error(`'${file}' is not a model description; delete '${dir}' so the model is trained again`);
  if (json.format !== MODEL_FORMAT) throw new Error(`'${file}' has format '${String(json.format)}', expected '${MODEL_FORMAT}'`);
  const problem = structureProblem(json);
  if (problem) throw new Error(`'${file}': ${problem}; delete '${dir}' so the model is trained again`);
  return json;
}

const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

/** What is wrong with the shape of a model.json (its fields' types), or null. */
function structureProblem(json: ModelJson): string | null {
  if (typeof json.spec !== 'object' || json.spec === null || typeof json.spec.arch !== 'string') return 'spec is missing or not an object with an arch';
  if (!Array.isArray(json.variables)) return 'variables is not a list';
  for (const [i, v] of json.variables.entries()) {
    if (typeof v !== 'object' || v === null || typeof v.name !== 'string' || (v.kind !== 'param' && v.kind !== 'state')) return `variables[${i}] is not a { name, kind: 'param' | 'state' } entry`;
    if (!Array.isArray(v.shape) || !v.shape.every(isCount)) return `variables[${i}] (${v.name}).shape is not a list of non-negative integers`;
    if (!isCount(v.offset)) return `variables[${i}] (${v.name}).offset is not a non-negative integer`;
  }
  if (typeof json.weightsSha256 !== 'string' || !/^[0-9a-f]{64}$/.test(json.weightsSha256)) return 'weightsSha256 is not a SHA-256 hex digest';
  if (json.cacheKey !== undefined && typeof json.cacheKey !== 'string') return 'cacheKey is not a string';
  if (json.metadata !== undefined && (typeof json.metadata !== 'object' || json.metadata === null)) return 'metadata is not an object';
  return null;
}

/**
 * The variables must tile weights.bin exactly: each inside it, none overlapping another, no float32 unclaimed (what
 * saveModel writes). An edited offset that reads another variable's weights, or past the end, is refused here.
 */
function layoutProblem(json: ModelJson, floats: number): string | null {
  const names = new Set<string>();
  const spans = json.variables.map((v) => {
    if (names.has(v.name)) return `variable '${v.name}' is listed twice`;
    names.add(v.name);
    const size = v.shape.reduce((a, b) => a * b, 1);
    if (v.offset + size > floats) return `variable '${v.name}' spans float32 [${v.offset}, ${v.offset + size}), past the end of weights.bin (${floats} float32)`;
    return { name: v.name, start: v.offset, end: v.offset + size };
  });
  const bad = spans.find((s) => typeof s === 'string');
  if (bad) return bad;
  const sorted = (spans as Array<{ name: string; start: number; end: number }>).sort((a, b) => a.start - b.start);
  let covered = 0;
  for (let i = 0; i < sorted.length; i++) {
    const s = sorted[i]!;
    if (i > 0 && s.start < sorted[i - 1]!.end) return `variables '${sorted[i - 1]!.name}' and '${s.name}' overlap in weights.bin (float32 ${s.start} to ${sorted[i - 1]!.end})`;
    covered += s.end - s.start;
  }
  if (covered !== floats) return `the variables cover ${covered} of the ${floats} float32 in weights.bin`;
  return null;
}

/**
 * Why the save in `dir` cannot be used as the expected model, or null: model.json's manifest hash, cache key and
 * spec, its network revision, weights.bin's SHA-256 and the variables' layout in it. Reads the files; no TensorFlow.js.
 */
export function savedModelProblem(dir: string, expected: LoadModelOptions = {}): string | null {
  try {
    checkSavedModel(dir, readModelJson(dir), expected);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

function checkSavedModel(dir: string, json: ModelJson, expected: LoadModelOptions): Uint8Array {
  const file = path.join(dir, 'model.json');
  const retrain = `delete '${dir}' so the model is trained again`;
  if (json.manifestSha256 !== undefined && json.manifestSha256 !== manifestSha256(json)) {
    throw new Error(`'${file}' was edited after it was saved: its spec, variable table, weights hash or cache key no longer match its manifestSha256; ${retrain}`);
  }
  if (expected.cacheKey !== undefined && json.cacheKey !== undefined && json.cacheKey !== expected.cacheKey) {
    throw new Error(`'${file}' records cache key '${json.cacheKey}', but it is stored under '${expected.cacheKey}' (a copied or moved entry); ${retrain}`);
  }
  if (expected.spec !== undefined && canonicalJson(json.spec) !== canonicalJson(expected.spec)) {
    throw new Error(`'${file}' holds model spec ${canonicalJson(json.spec)}, but the model expected under this key is ${canonicalJson(expected.spec)}; ${retrain}`);
  }
  checkNetworkRevision(json, dir);
  const weightsFile = path.join(dir, 'weights.bin');
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(weightsFile);
  } catch (err) {
    throw new Error(`'${weightsFile}' cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); ${retrain}`);
  }
  const actual = crypto.createHash('sha256').update(bytes).digest('hex');
  if (actual !== json.weightsSha256) {
    throw new Error(`'${weightsFile}' is corrupt: SHA-256 ${actual}, expected ${json.weightsSha256}; ${retrain}`);
  }
  if (bytes.byteLength % 4 !== 0) throw new Error(`'${weightsFile}' holds ${bytes.byteLength} bytes, not a whole number of float32; ${retrain}`);
  const layout = layoutProblem(json, bytes.byteLength / 4);
  if (layout) throw new Error(`'${file}': ${layout}; ${retrain}`);
  return bytes;
}

/**
 * Refuse weights trained as another function than the one this code computes for their spec: loaded into today's
 * network they would silently be a different model (e.g. a ResNet-18 trained with TensorFlow's stride-2 padding).
 */
function checkNetworkRevision(json: ModelJson, dir: string): void {
  const saved = json.networkRevision ?? 1;
  // an unknown architecture is an error naming the known ones
  const since = getArchitecture(json.spec.arch).sameFunctionSince;
  if (saved > NETWORK_REVISION) {
    throw new Error(`saved model in '${dir}' is network revision ${saved}, newer than this Lethe's ${NETWORK_REVISION}; update Lethe or delete '${dir}' so the model is trained again`);
  }
  if (saved < since) {
    throw new Error(
      `saved model in '${dir}' was trained as network revision ${saved}, but ${json.spec.arch} computes a different function since revision ${since} (see NETWORK_REVISION); delete '${dir}' so the model is trained again`,
    );
  }
}

/**
 * Load a saved model, verified as a whole: model.json's manifest, the expected spec and cache key (when given), the
 * network revision, weights.bin's SHA-256 and the variables' layout. Any mismatch is an error naming the file and
 * the fix; nothing is loaded half.
 */
export async function loadModel(dir: string, expected: LoadModelOptions = {}): Promise<{ model: Model; metadata: Record<string, unknown> }> {
  const json = readModelJson(dir);
  const bytes = checkSavedModel(dir, json, expected);
  const weights = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const model = Model.create(json.spec, 0);
  try {
    for (const entry of json.variables) {
      const v = entry.kind === 'param' ? model.params.get(entry.name) : model.state.get(entry.name);
      if (!v) throw new Error(`saved model in '${dir}' has variable '${entry.name}' that spec ${json.spec.arch} does not define`);
      if (v.shape.join('x') !== entry.shape.join('x')) throw new Error(`saved variable '${entry.name}' has shape [${entry.shape}], model expects [${v.shape}]`);
      const size = entry.shape.reduce((a, b) => a * b, 1);
      tf.tidy(() => v.assign(tf.tensor(weights.subarray(entry.offset, entry.offset + size), entry.shape, 'float32')));
    }
    const saved = new Set(json.variables.map((e) => e.name));
    for (const name of [...model.params.keys(), ...model.state.keys()]) {
      if (!saved.has(name)) throw new Error(`saved model in '${dir}' lacks variable '${name}'`);
    }
  } catch (err) {
    model.dispose();
    throw err;
  }
  return { model, metadata: json.metadata };
}
