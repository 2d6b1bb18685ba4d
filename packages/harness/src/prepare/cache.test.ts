import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import { Model, saveModel, type ModelSpec } from '@lethe/models';
import { initBackend } from '@lethe/runtime';
import { cachedModel } from './cache.js';

await initBackend('cpu', { log: () => {} });

const spec: ModelSpec = { arch: 'small-cnn', numClasses: 10, inputShape: [8, 8, 3], batchNorm: false, normalization: { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] } };

test('a cache entry that is not what its key stands for is trained again, with the reason logged (issue 13)', async () => {
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-cache-'));
  const lines: string[] = [];
  const log = (line: string): void => void lines.push(line);
  let trainings = 0;
  const train = async (): Promise<Model> => {
    trainings++;
    return Model.create(spec, 1);
  };
  // another spec under this key (e.g. an entry saved before the normalisation changed): before issue 13 it was loaded
  const other = Model.create({ ...spec, normalization: null }, 2);
  await saveModel(other, path.join(cacheDir, 'key-a'), { trainSeconds: 1 });
  other.dispose();
  const first = await cachedModel(cacheDir, 'key-a', spec, 'original model', log, train);
  assert.equal(first.trainedNow, true);
  assert.equal(trainings, 1);
  assert.match(lines.join('\n'), /original model: cached copy unusable \('.*key-a\/model\.json' holds model spec .*"normalization":null.*\); training again/);
  first.model.dispose();
  // the new entry records its key and loads
  assert.equal(JSON.parse(fs.readFileSync(path.join(cacheDir, 'key-a', 'model.json'), 'utf8')).cacheKey, 'key-a');
  const again = await cachedModel(cacheDir, 'key-a', spec, 'original model', log, train);
  assert.equal(again.trainedNow, false);
  assert.equal(trainings, 1);
  again.model.dispose();
  // the same entry copied under another key is not used as that key's model
  fs.cpSync(path.join(cacheDir, 'key-a'), path.join(cacheDir, 'key-b'), { recursive: true });
  const copied = await cachedModel(cacheDir, 'key-b', spec, 'gold model', log, train);
  assert.equal(copied.trainedNow, true);
  assert.match(lines.at(-2)!, /gold model: cached copy unusable \(.*records cache key 'key-a', but it is stored under 'key-b'/);
  copied.model.dispose();
  fs.rmSync(cacheDir, { recursive: true });
});
