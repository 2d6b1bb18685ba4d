import assert from 'node:assert/strict';
import test from 'node:test';
import { getDataset, listDatasets, registerDataset, unregisterDataset, type DatasetEntry } from './registry.js';
import { syntheticImageDataset } from './synthetic.js';

test('cifar10 is registered', () => {
  const entry = getDataset('cifar10');
  assert.equal(entry.name, 'cifar10');
  assert.equal(typeof entry.fetch, 'function');
  assert.equal(typeof entry.load, 'function');
  assert.match(entry.description, /CIFAR-10/);
});

test('an unknown name lists the known ones', () => {
  assert.throws(() => getDataset('x'), { message: "unknown dataset 'x'; known: cifar10, synthetic" });
});

test('the synthetic data set: the sizes it declares, generated the same every time, no download', async () => {
  const entry = getDataset('synthetic');
  const a = await entry.load();
  const b = await entry.load();
  assert.deepEqual([a.train.count, a.test.count], [entry.sizes.train, entry.sizes.test]);
  assert.deepEqual([a.train.height, a.train.width, a.train.channels], entry.imageShape);
  assert.equal(a.train.numClasses, entry.numClasses);
  assert.deepEqual(a.train.images, b.train.images);
  assert.notDeepEqual(a.train.images.subarray(0, 3072), a.test.images.subarray(0, 3072));
  assert.equal((await entry.fetch()).source, 'generated');
});

test('registering adds an entry, duplicates are refused, unregistering removes it', async () => {
  const entry: DatasetEntry = {
    name: 'toy',
    description: 'synthetic toy set',
    sizes: { train: 4, test: 2 },
    imageShape: [32, 32, 3],
    numClasses: 2,
    channelMean: [0.5, 0.5, 0.5],
    channelStd: [0.25, 0.25, 0.25],
    checksum: 'none',
    fetch: async () => ({ dir: '', source: 'generated', checksum: '' }),
    load: async () => ({
      train: syntheticImageDataset({ count: 4, numClasses: 2, seed: 1 }),
      test: syntheticImageDataset({ count: 2, numClasses: 2, seed: 2 }),
      checksum: 'none',
    }),
  };
  registerDataset(entry);
  try {
    assert.deepEqual(listDatasets(), ['cifar10', 'synthetic', 'toy']);
    assert.equal((await getDataset('toy').load()).train.count, 4);
    assert.throws(() => registerDataset(entry), /already registered/);
    assert.throws(() => getDataset('nope'), /known: cifar10, synthetic, toy$/);
  } finally {
    assert.equal(unregisterDataset('toy'), true);
  }
  assert.deepEqual(listDatasets(), ['cifar10', 'synthetic']);
});

test("cifar10's entry knows, without loading, the checksum a load records", () => {
  // the value real loads of the verified CIFAR-10 files recorded (provenance.dataChecksum of
  // leaderboard/results/cifar10-cpu/*.json); a change of the checksum table or of how it is combined changes it
  assert.equal(getDataset('cifar10').checksum, '5fdcf57d170bdbc7da569af1dabd64d7d3c7507e9e7aa861fc7b691d5355c232');
  assert.equal(getDataset('synthetic').checksum, 'synthetic-v1');
});
