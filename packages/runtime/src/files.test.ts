import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import { readHeaderFile, removeStaleTemporaries, writeFileAtomic, writeHeaderFile, writeJsonAtomic } from './files.js';

test('atomic writes leave the file and no temporary; header files round-trip and refuse other headers', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-files-'));
  writeJsonAtomic(path.join(dir, 'a', 'x.json'), { n: 1 });
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'a', 'x.json'), 'utf8')), { n: 1 });
  writeHeaderFile(path.join(dir, 'h.bin'), { format: 'f/1', n: 3 }, [Uint8Array.from([1, 2]), Uint8Array.from([3])]);
  const read = readHeaderFile<{ format: string; n: number }>(path.join(dir, 'h.bin'), (h) => h.format === 'f/1');
  assert.deepEqual([...read!.body], [1, 2, 3]);
  assert.equal(read!.header.n, 3);
  assert.equal(readHeaderFile<{ format: string }>(path.join(dir, 'h.bin'), (h) => h.format === 'f/2'), null);
  assert.equal(readHeaderFile(path.join(dir, 'missing.bin'), () => true), null);
  assert.match(String((read!.header as { bodySha256?: string }).bodySha256), /^[0-9a-f]{64}$/);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['a', 'h.bin']);
  // a damaged body (same length) is an error naming the file and the fix, not data (issue 13)
  const bytes = fs.readFileSync(path.join(dir, 'h.bin'));
  bytes[bytes.length - 1] = 9;
  fs.writeFileSync(path.join(dir, 'h.bin'), bytes);
  assert.throws(() => readHeaderFile(path.join(dir, 'h.bin'), () => true), /'.*h\.bin' is damaged \(its body has SHA-256 [0-9a-f]{64}, its header records [0-9a-f]{64}\); delete it so it is computed again/);
  // a file from before bodySha256 reads when its caller says so; a header whose bodySha256 key is damaged does not
  fs.writeFileSync(path.join(dir, 'old.bin'), Buffer.concat([Buffer.from('{"format":"f/1"}\n'), Buffer.from([5])]));
  const oldKeys = (h: object): boolean => Object.keys(h).join() === 'format';
  assert.deepEqual([...readHeaderFile(path.join(dir, 'old.bin'), () => true, { unhashed: oldKeys })!.body], [5]);
  assert.throws(() => readHeaderFile(path.join(dir, 'old.bin'), () => true), /is damaged \(its header records no bodySha256\)/);
  fs.writeFileSync(path.join(dir, 'old.bin'), Buffer.concat([Buffer.from('{"format":"f/1","codySha256":"00"}\n'), Buffer.from([5])]));
  assert.throws(() => readHeaderFile(path.join(dir, 'old.bin'), () => true, { unhashed: oldKeys }), /records no bodySha256/);
  fs.rmSync(path.join(dir, 'old.bin'));
  fs.writeFileSync(path.join(dir, 'h.bin'), '{"format":');
  assert.throws(() => readHeaderFile(path.join(dir, 'h.bin'), () => true), /is damaged \(no header line\)/);
  // an unwritable place: the error names the path
  fs.writeFileSync(path.join(dir, 'plain'), '');
  assert.throws(() => writeFileAtomic(path.join(dir, 'plain', 'y.json'), 'x'), /'.*plain\/y\.json'/);
  fs.rmSync(dir, { recursive: true });
});

test('stale leftovers of dead writers are removed once 10 minutes old; a live writer\'s and recent ones are kept', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-stale-'));
  fs.mkdirSync(path.join(dir, 'sub'));
  const dead = 2 ** 22 + 4321; // above Linux's default pid_max, so no process has it
  const files = {
    deadOld: path.join(dir, `r.json.tmp-${dead}`),
    deadNew: path.join(dir, 'sub', `w.bin.tmp-${dead}-7`),
    partial: path.join(dir, `data_batch_1.bin.${dead}.partial`),
    mine: path.join(dir, `m.json.tmp-${process.pid}-0`),
    minePartial: path.join(dir, `x.bin.${process.pid}.partial`),
    recent: path.join(dir, `fresh.json.tmp-${dead}-1`),
    other: path.join(dir, 'keep.json'),
    otherPartial: path.join(dir, 'notes.partial'),
  };
  for (const f of Object.values(files)) fs.writeFileSync(f, 'x');
  // an interrupted download's staging folder (133 MB in real life) and a checkpoint copy's
  const staging = path.join(dir, `.fetch-official-${dead}-1765000000000`);
  const checkpoint = path.join(dir, `.0123abcd.tmp-${dead}`);
  const liveStaging = path.join(dir, `.fetch-npm-${process.pid}-1765000000000`);
  for (const d of [staging, checkpoint, liveStaging]) {
    fs.mkdirSync(d);
    fs.writeFileSync(path.join(d, 'cifar-10-binary.tar.gz'), 'x');
  }
  const old = Date.now() / 1000 - 11 * 60;
  for (const p of [...Object.values(files).filter((f) => f !== files.recent), staging, checkpoint, liveStaging]) fs.utimesSync(p, old, old);
  fs.utimesSync(files.recent, Date.now() / 1000 - 9 * 60, Date.now() / 1000 - 9 * 60);
  assert.deepEqual(removeStaleTemporaries(dir).sort(), [files.deadOld, files.deadNew, files.partial, staging, checkpoint].sort());
  for (const kept of [files.mine, files.minePartial, files.recent, files.other, files.otherPartial, liveStaging]) assert.ok(fs.existsSync(kept), kept);
  // the recent one goes once it is old enough
  assert.deepEqual(removeStaleTemporaries(dir, { now: Date.now() + 2 * 60 * 1000 }), [files.recent]);
  fs.rmSync(dir, { recursive: true });
});
