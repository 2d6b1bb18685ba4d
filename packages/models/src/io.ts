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
  metadata: Record<string, unknown>;
}

const writeAtomic = writeFileAtomic;

export async function saveModel(model: Model, dir: string, metadata: Record<string, unknown> = {}): Promise<void> {
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
  const json: ModelJson = {
    format: MODEL_FORMAT,
    spec: model.spec,
    networkRevision: NETWORK_REVISION,
    variables: entries,
    weightsSha256: crypto.createHash('sha256').update(bytes).digest('hex'),
    metadata,
  };
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
  const json = JSON.parse(fs.readFileSync(file, 'utf8')) as ModelJson;
  if (json.format !== MODEL_FORMAT) throw new Error(`'${file}' has format '${String(json.format)}', expected '${MODEL_FORMAT}'`);
  return json;
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

export async function loadModel(dir: string): Promise<{ model: Model; metadata: Record<string, unknown> }> {
  const json = readModelJson(dir);
  checkNetworkRevision(json, dir);
  const weightsFile = path.join(dir, 'weights.bin');
  const bytes = fs.readFileSync(weightsFile);
  const actual = crypto.createHash('sha256').update(bytes).digest('hex');
  if (actual !== json.weightsSha256) {
    throw new Error(`'${weightsFile}' is corrupt: SHA-256 ${actual}, expected ${json.weightsSha256}; delete '${dir}' so the model is trained again`);
  }
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
