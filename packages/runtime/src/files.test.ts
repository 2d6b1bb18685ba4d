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
  assert.deepEqual(fs.readdirSync(dir).sort(), ['a', 'h.bin']);
  // an unwritable place: the error names the path
  fs.writeFileSync(path.join(dir, 'plain'), '');
  assert.throws(() => writeFileAtomic(path.join(dir, 'plain', 'y.json'), 'x'), /'.*plain\/y\.json'/);
  fs.rmSync(dir, { recursive: true });
});

test('stale temporaries of dead writers are removed, a live writer\'s are kept', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-stale-'));
  fs.mkdirSync(path.join(dir, 'sub'));
  const dead = 2 ** 22 + 4321; // above Linux's default pid_max, so no process has it
  const files = { deadOld: path.join(dir, `r.json.tmp-${dead}`), deadNew: path.join(dir, 'sub', `w.bin.tmp-${dead}-7`), mine: path.join(dir, `m.json.tmp-${process.pid}-0`), other: path.join(dir, 'keep.json') };
  for (const f of Object.values(files)) fs.writeFileSync(f, 'x');
  assert.deepEqual(removeStaleTemporaries(dir).sort(), [files.deadOld, files.deadNew].sort());
  assert.ok(fs.existsSync(files.mine) && fs.existsSync(files.other));
  fs.rmSync(dir, { recursive: true });
});
