// Runs notebooks headless in real Jupyter through scripts/run-notebooks.mjs.
// The result files written here are MADE-UP numbers for display tests only, not measurements.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const notebooksDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const runner = path.join(notebooksDir, 'scripts', 'run-notebooks.mjs');
const JUPYTER = '/usr/bin/jupyter';
const INSTALL =
  'apt-get update && apt-get install -y --no-install-recommends jupyter-nbconvert python3-nbconvert python3-nbclient jupyter-client python3-ipykernel jupyter-core';
const VEGA_LITE_MIME = 'application/vnd.vegalite.v5+json';

/** On CI missing Jupyter is a failure (the notebooks would go untested); locally it is a skip. */
function jupyterOrSkip(t) {
  if (fs.existsSync(JUPYTER)) return true;
  const message = `${JUPYTER} not found; install Jupyter with: ${INSTALL}`;
  if (process.env.CI) assert.fail(message);
  t.skip(message);
  return false;
}

const made = [];
process.on('exit', () => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});
/** A fresh temp dir, removed when the test process exits. */
function tmp(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** Run the runner; with --output-dir it deletes its own scratch dir, so tests leave nothing behind. */
function runNotebooks(args, env = {}, timeout = 300_000) {
  const withOut = args.includes('--output-dir') ? args : ['--output-dir', tmp('lethe-nb-out-'), ...args];
  const res = spawnSync(process.execPath, [runner, ...withOut], { encoding: 'utf8', env: { ...process.env, ...env }, timeout });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr, output: `${res.stdout}\n${res.stderr}` };
}

const METHODS = ['retrain', 'finetune', 'grad-ascent'];

const GOLD = { UA: 90, RA: 99, TA: 91 };

/**
 * Minimal made-up result files in the harness's schema: every method on two seeds. finetune's UA lands 5 points
 * above retrain's in one run and 5 below in the other (RA and TA 1 below in both): each run's own Avg Gap is
 * (5 + 1 + 1)/3 = 7/3, the gap of the means (0 + 1 + 1)/3 = 2/3.
 */
function writeFixtureResults(
  benchmark = 'fixture-bench',
  made = { retrain: [GOLD, GOLD], finetune: [{ UA: 95, RA: 98, TA: 90 }, { UA: 85, RA: 98, TA: 90 }], 'grad-ascent': [{ UA: 70, RA: 90, TA: 84 }, { UA: 70, RA: 90, TA: 84 }] },
) {
  const dir = tmp('lethe-nb-results-');
  const gold = GOLD;
  for (const method of Object.keys(made)) {
    for (const seed of [0, 1]) {
      const m = made[method][seed];
      const avgGap = (Math.abs(m.UA - gold.UA) + Math.abs(m.RA - gold.RA) + Math.abs(m.TA - gold.TA)) / 3;
      const result = {
        schema: 'lethe.result/v1',
        benchmark,
        cellHash: `fixture-${method}-${seed}`,
        cell: { method, setting: 'retain', forgetSet: 'random-10pct', seed, hyperParameters: {} },
        metrics: { ...m, avgGap, avgGapOver: ['UA', 'RA', 'TA'] },
        gold,
        original: { UA: 100, RA: 100, TA: 92 },
        sizes: { train: 1000, forget: 100, retain: 900, test: 200 },
        timing: { unlearnSeconds: 5, retrainSeconds: 100, relativeToRetrain: 0.05 },
        provenance: {
          lethe: { '@lethe/harness': '0.1.0' },
          tfjs: '4.22.0',
          backend: { name: 'fixture-backend', tfjsBackend: 'cpu', version: '0.0.0-fixture' },
          node: 'v20.0.0',
          platform: 'linux x64',
          cpus: '2 x fixture CPU',
          gitCommit: null,
          dataChecksum: 'sha256:fixture',
          configHash: 'fixture',
          createdAt: '2025-01-01T00:00:00.000Z',
        },
      };
      fs.writeFileSync(path.join(dir, `${method}-${seed}.json`), JSON.stringify(result));
    }
  }
  return dir;
}

function writeNotebook(dir, name, sources) {
  const file = path.join(dir, `${name}.ipynb`);
  const cells = sources.map((source, i) => ({ cell_type: 'code', id: `c${i}`, metadata: {}, execution_count: null, outputs: [], source }));
  const metadata = { kernelspec: { name: 'tslab', display_name: 'TypeScript (tslab)', language: 'typescript' } };
  fs.writeFileSync(file, JSON.stringify({ cells, metadata, nbformat: 4, nbformat_minor: 5 }));
  return file;
}

const text = (v) => (Array.isArray(v) ? v.join('') : String(v ?? ''));

test('01-quickstart runs headless and shows the table and the Avg Gap chart', { timeout: 300_000 }, (t) => {
  if (!jupyterOrSkip(t)) return;
  const outDir = tmp('lethe-nb-out-');
  const run = runNotebooks(['--output-dir', outDir, '01-quickstart'], { LETHE_RESULTS: writeFixtureResults() });
  assert.equal(run.status, 0, run.output);

  const nb = JSON.parse(fs.readFileSync(path.join(outDir, '01-quickstart.out.ipynb'), 'utf8'));
  assert.equal(nb.metadata.kernelspec.name, 'tslab');
  const outputs = nb.cells.flatMap((c) => c.outputs ?? []);
  assert.ok(!outputs.some((o) => o.output_type === 'error' || (o.output_type === 'stream' && o.name === 'stderr')), 'no error output');

  // The summary table: one body row per method.
  const tables = outputs.map((o) => text(o.data?.['text/html'])).filter((h) => h.includes('<table'));
  assert.equal(tables.length, 1);
  const body = tables[0].match(/<tbody>([\s\S]*)<\/tbody>/)[1];
  assert.equal((body.match(/<tr\b/g) ?? []).length, METHODS.length);
  for (const m of METHODS) assert.ok(body.includes(`>${m}`), m);

  // A live Vega-Lite output (the media type JupyterLab renders, with a matching $schema) with one datum per method.
  const specs = outputs.map((o) => o.data?.[VEGA_LITE_MIME]).filter(Boolean);
  const gap = specs.find((s) => JSON.stringify(s).includes('Avg Gap'));
  assert.ok(gap, 'Avg Gap Vega-Lite output');
  assert.equal(typeof gap, 'object', 'stored as a JSON object, not a string');
  assert.equal(gap.$schema, 'https://vega.github.io/schema/vega-lite/v5.json');
  assert.equal(gap.data.values.length, METHODS.length);
  assert.deepEqual(new Set(gap.data.values.map((v) => v.method)), new Set(METHODS));
  // The plotted Avg Gap is the gap of the means (rounded to 4 places in the spec); the runs' own gaps are beside it.
  const finetune = gap.data.values.find((v) => v.method === 'finetune');
  assert.equal(finetune.avgGap, 0.6667);
  assert.equal(finetune.meanRunGap, 2.3333);
  assert.match(gap.title.subtitle, /averaged over UA, RA, TA;/);

  // The same chart pre-rendered as SVG for HTML export: one bar per method.
  const svgs = outputs.map((o) => text(o.data?.['text/html'])).filter((h) => h.startsWith('<svg'));
  assert.ok(svgs.length >= 1);
  const bars = svgs[0].match(/<g class="mark-rect role-mark[^"]*"[^>]*>.*?<\/g>/s);
  assert.equal((bars[0].match(/<path\b/g) ?? []).length, METHODS.length);
});

test('a failing cell makes the runner exit non-zero with that cell’s error message', { timeout: 300_000 }, (t) => {
  if (!jupyterOrSkip(t)) return;
  // Outside the workspace no @types/node is visible to tslab's type checker, so these cells use only ES globals.
  const nb = writeNotebook(tmp('lethe-nb-fail-'), 'fails', [
    'const x: number = 6 * 7;',
    "throw new Error('deliberate failure 7f3a: x=' + x);",
    'const never: string = x.toFixed(1);',
  ]);
  const run = runNotebooks([nb]);
  assert.equal(run.status, 1, run.output);
  assert.match(run.stderr, /FAIL .*fails\.ipynb/);
  assert.match(run.stderr, /cell 2 \(id c1\) failed/);
  assert.match(run.stderr, /deliberate failure 7f3a: x=42/, 'the thrown message, after the first cell ran');
  assert.doesNotMatch(run.stderr, /toFixed/, 'the cells after the failure are not reported');
});

test('a type error is reported with the compiler message', { timeout: 300_000 }, (t) => {
  if (!jupyterOrSkip(t)) return;
  const nb = writeNotebook(tmp('lethe-nb-type-'), 'type-error', ["const n: number = 'text';"]);
  const run = runNotebooks([nb]);
  assert.equal(run.status, 1, run.output);
  assert.match(run.stderr, /Type 'string' is not assignable to type 'number'/);
});

test('the quickstart fails clearly when the results directory is missing', { timeout: 300_000 }, (t) => {
  if (!jupyterOrSkip(t)) return;
  const missing = path.join(tmp('lethe-nb-missing-'), 'no-results');
  const run = runNotebooks(['01-quickstart'], { LETHE_RESULTS: missing });
  assert.equal(run.status, 1, run.output);
  assert.ok(run.stderr.includes(missing), run.stderr);
  assert.match(run.stderr, /no result files in .*; run `pnpm lethe run benchmarks\/smoke\.json` first/);
});

/** Every output of an executed notebook, with the id of its cell. */
function outputsOf(nb) {
  return nb.cells.flatMap((c) => (c.outputs ?? []).map((o) => ({ ...o, cellId: c.id })));
}

/** No error output and nothing on stderr (tslab reports failures there). */
function assertNoErrors(outputs) {
  const bad = outputs.filter((o) => o.output_type === 'error' || (o.output_type === 'stream' && o.name === 'stderr'));
  assert.deepEqual(bad.map((o) => `${o.cellId}: ${text(o.text ?? o.evalue)}`), [], 'no error output');
}

const stdoutOf = (outputs, cellId) =>
  outputs
    .filter((o) => o.cellId === cellId && o.output_type === 'stream' && o.name === 'stdout')
    .map((o) => text(o.text))
    .join('');
const dataOf = (outputs, cellId, mime) => outputs.filter((o) => o.cellId === cellId && o.data?.[mime] !== undefined).map((o) => o.data[mime]);
const svgsOf = (outputs, cellId) => dataOf(outputs, cellId, 'text/html').map(text).filter((h) => h.startsWith('<svg'));

/** Execute one notebook of this folder into a temp dir and return the executed notebook and its outputs. */
function execute(name, env = {}, timeout = 300_000) {
  const outDir = tmp('lethe-nb-out-');
  const started = Date.now();
  const run = runNotebooks(['--output-dir', outDir, name], env, timeout);
  assert.equal(run.status, 0, run.output);
  const nb = JSON.parse(fs.readFileSync(path.join(outDir, `${name}.out.ipynb`), 'utf8'));
  assert.equal(nb.metadata.kernelspec.name, 'tslab');
  const outputs = outputsOf(nb);
  assertNoErrors(outputs);
  return { nb, outputs, seconds: (Date.now() - started) / 1000 };
}

// 02 trains on a 2,000-image CIFAR-10 subset: minutes, and CIFAR-10 in LETHE_DATA (downloaded on first use).
test('02-your-own-unlearner registers a new method, runs it with finetune, amun and retrain, and charts them', { timeout: 900_000 }, (t) => {
  if (!jupyterOrSkip(t)) return;
  const { outputs, seconds } = execute('02-your-own-unlearner', {}, 900_000);
  t.diagnostic(`02-your-own-unlearner executed in ${seconds.toFixed(0)} s`);
  const methods = ['retrain', 'finetune', 'amun', 'confuse-forget'];

  assert.match(stdoutOf(outputs, 'register'), /^registered; \d+ unlearners known: .*, confuse-forget\n$/);
  // the config cell prints the hyper-parameters with the schema's defaults filled in
  assert.match(stdoutOf(outputs, 'config'), /^confuse-forget +\{"epochs":2,"lr":0\.01,"momentum":0\.9,"weightDecay":0\.0005,"batchSize":64,"forgetBatchSize":32,"forgetWeight":1\}$/m);

  // visible progress: the original and gold models' epochs and the new method's own epochs, as the run goes
  const log = stdoutOf(outputs, 'run');
  assert.match(log, /original model \(seed 0\): epoch 6\/6 /);
  assert.match(log, /gold model \(retrain\): epoch 6\/6 /);
  assert.match(log, /amun-adversarial-set: adversarial examples 200\/200/);
  assert.match(log, /^\[ *\d+ s\] +confuse-forget: epoch 1\/2 +loss [\d.]+/m);
  assert.match(log, /^\[ *\d+ s\] +confuse-forget: epoch 2\/2 +loss [\d.]+/m);
  assert.match(log, /\n4 result files in \d+ s \(backend: \w+/);

  // the leaderboard table: one row per method
  const tables = dataOf(outputs, 'table', 'text/html').map(text).filter((h) => h.includes('<table'));
  assert.equal(tables.length, 1);
  const body = tables[0].match(/<tbody>([\s\S]*)<\/tbody>/)[1];
  assert.equal((body.match(/<tr\b/g) ?? []).length, methods.length);
  for (const m of methods) assert.ok(body.includes(`>${m}`), m);

  // the text table: each method's Avg Gap, which the chart must plot
  const printed = stdoutOf(outputs, 'table');
  const gapOf = new Map(
    methods.map((m) => {
      const row = printed.split('\n').find((l) => l.startsWith(`${m} `));
      assert.ok(row, `text table row of ${m}`);
      return [m, Number(row.trim().split(/\s+/)[8])];
    }),
  );
  assert.equal(gapOf.get('retrain'), 0);

  // both charts, live and as SVG: UA/RA/TA per method, and Avg Gap per method matching the table
  const specs = dataOf(outputs, 'charts', VEGA_LITE_MIME);
  assert.equal(specs.length, 2);
  const [accuracy, gap] = specs;
  assert.equal(accuracy.title.text, 'Accuracy per method');
  assert.deepEqual(new Set(accuracy.data.values.map((v) => `${v.method}/${v.metric}`)), new Set(methods.flatMap((m) => ['UA', 'RA', 'TA'].map((k) => `${m}/${k}`))));
  assert.match(gap.title.subtitle, /averaged over UA, RA, TA;/);
  assert.equal(gap.data.values.length, methods.length);
  for (const v of gap.data.values) assert.ok(Math.abs(v.avgGap - gapOf.get(v.method)) < 0.006, `${v.method}: chart ${v.avgGap}, table ${gapOf.get(v.method)}`);
  const svgs = svgsOf(outputs, 'charts');
  assert.equal(svgs.length, 2);
  const bars = svgs[1].match(/<g class="mark-rect role-mark[^"]*"[^>]*>.*?<\/g>/s);
  assert.equal((bars[0].match(/<path\b/g) ?? []).length, methods.length);

  // the temporary directory is gone
  const removed = stdoutOf(outputs, 'cleanup').match(/^removed (.*)\n$/)[1];
  assert.equal(fs.existsSync(removed), false);
});

test('04-perturbation runs Top-K and Random-k at four shares and plots FR, MRR and the SPD-GAN degree against k', { timeout: 900_000 }, (t) => {
  if (!jupyterOrSkip(t)) return;
  const { outputs, seconds } = execute('04-perturbation', {}, 900_000);
  t.diagnostic(`04-perturbation executed in ${seconds.toFixed(0)} s`);
  const shares = [0.001, 0.01, 0.05, 0.1];

  // each method perturbed round(k x total) entries, once for the original and once for the SPD original
  const log = stdoutOf(outputs, 'run');
  const total = Number(log.match(/perturbed \d+ of (\d+) parameter entries/)[1]);
  for (const method of ['topk-perturbation', 'randomk-perturbation']) {
    for (const k of shares) {
      const lines = log.split('\n').filter((l) => l.includes(`${method}: perturbed ${Math.round(k * total)} of ${total} parameter entries (k = ${k},`));
      assert.equal(lines.length, 2, `${method} at k = ${k}`);
    }
  }
  assert.match(log, /\n9 result files in \d+ s/);

  // the table: one row per share and the retrained model's targets
  const [table] = dataOf(outputs, 'table', 'text/markdown').map(text);
  const rows = table.split('\n').filter((l) => /^\| [\d.]+% \|/.test(l));
  assert.deepEqual(rows.map((l) => l.split('|')[1].trim()), ['0.1%', '1%', '5%', '10%']);
  assert.match(table, /\| retrained model \(target\) \| -?\d\.\d{3} \| \| \d\.\d{3} \| \| -?\d+\.\d\d \|/);
  assert.match(stdoutOf(outputs, 'table'), /SPD original minus retrained model, accuracy: -?[\d.]+ points on G\(D_f\), -?[\d.]+ on the clean D_f/);

  // FR and MRR curves: a point per method and share in each panel, and the retrained model's rule
  const [rates] = dataOf(outputs, 'chart-rates', VEGA_LITE_MIME);
  assert.deepEqual(rates.hconcat.map((p) => p.title), ['FR (forgetting rate)', 'MRR (memory retention rate)']);
  for (const panel of rates.hconcat) {
    const points = panel.layer[0].data.values;
    assert.equal(points.length, 8);
    assert.deepEqual(new Set(points.map((p) => `${p.method}@${p.k}`)), new Set(['Top-K', 'Random-k'].flatMap((m) => shares.map((k) => `${m}@${k * 100}`))));
    for (const p of points) assert.ok(Number.isFinite(p.value) && p.value <= 1.5, `${panel.title} ${p.method} ${p.k}: ${p.value}`);
    assert.equal(panel.layer[1].mark.type, 'rule');
  }
  const [spd] = dataOf(outputs, 'chart-spd', VEGA_LITE_MIME);
  assert.equal(spd.title.text, 'SPD-GAN unlearning degree');
  for (const panel of spd.hconcat) assert.equal(panel.layer[0].data.values.length, 8);
  assert.equal(svgsOf(outputs, 'chart-rates').length, 1);
  assert.equal(svgsOf(outputs, 'chart-spd').length, 1);

  // the published perturbation results, read from leaderboard/results
  const [files] = dataOf(outputs, 'files', 'text/markdown').map(text);
  assert.match(files, /\| methods-small \| Top-K \| 1% \| 1 \| [\d.]+ \| [\d.]+ \|/);
});

/**
 * MADE-UP result files with rmia ROC curves (not measurements): finetune on two original models, amun on one; the
 * gold and original curves repeat in every file of the same original model, as the harness writes them.
 */
function writeRocFixture() {
  const dir = tmp('lethe-nb-roc-');
  const fpr = [0, 0.1, 1, 10, 100];
  const curve = (tpr) => ({ ftAuc: 50 + tpr[2], tprAt1Fpr: tpr[2], referenceModels: 4, mode: 'offline', signal: 'softmax', roc: { fpr, tpr } });
  const mia = (tpr) => ({ attack: 'rmia', referenceModels: 4, ftAuc: 50 + tpr[2], tprAt1Fpr: tpr[2], efficacy: null, mode: 'offline', byAttack: { rmia: curve(tpr) } });
  const runs = [
    ['finetune', 0, [0, 0, 10, 50, 100]],
    ['finetune', 1, [0, 2, 20, 70, 100]],
    ['amun', 0, [0, 0.5, 1, 11, 100]],
  ];
  for (const [method, original, tpr] of runs) {
    const gold = original === 0 ? [0, 0, 2, 12, 100] : [0, 0, 4, 14, 100];
    const orig = original === 0 ? [0, 1, 8, 30, 100] : [0, 3, 10, 40, 100];
    const result = JSON.parse(fs.readFileSync(path.join(writeFixtureResults('roc-fixture', { [method]: [GOLD, GOLD] }), `${method}-0.json`), 'utf8'));
    result.cellHash = `fixture-${method}-${original}`;
    result.cell.seeds = { original, forgetSet: 0, unlearning: 0 };
    result.mia = mia(tpr);
    result.gold = { ...result.gold, mia: mia(gold) };
    result.original = { ...result.original, mia: mia(orig) };
    fs.writeFileSync(path.join(dir, `${method}-${original}.json`), JSON.stringify(result));
  }
  return dir;
}

test('03-membership-inference draws log-log ROC curves of the original, gold and each method, with the attack setting named', { timeout: 300_000 }, (t) => {
  if (!jupyterOrSkip(t)) return;
  const { outputs } = execute('03-membership-inference', { LETHE_RESULTS: writeRocFixture() });
  assert.match(stdoutOf(outputs, 'load'), /^3 result files in .*, 3 with ROC curves; attacks with curves: rmia\n$/);

  const [table] = dataOf(outputs, 'table', 'text/markdown').map(text);
  assert.match(table, /^\*\*rmia\*\* \(offline, K=4 reference models\), roc-fixture$/m);
  // means worked by hand: gold counted once per original model, finetune over its two runs
  assert.match(table, /^\| original \| 2 \| 59\.00 \| 2\.00 \| 9\.00 \| 35\.00 \|$/m);
  assert.match(table, /^\| retrain \(gold\) \| 2 \| 53\.00 \| 0\.00 \| 3\.00 \| 13\.00 \|$/m);
  assert.match(table, /^\| finetune \| 2 \| 65\.00 \| 1\.00 \| 15\.00 \| 60\.00 \|$/m);
  // amun (|1 - 3| from gold at 1% FPR) sorts before finetune (|15 - 3|)
  assert.ok(table.indexOf('| amun |') < table.indexOf('| finetune |'));

  // all models, then original, gold and the seed papers' methods (amun): each live and as SVG
  const specs = dataOf(outputs, 'charts', VEGA_LITE_MIME);
  assert.equal(specs.length, 2);
  for (const spec of specs) {
    assert.match(spec.title.text, /^ROC of rmia \(offline, K=4 reference models\)/);
    assert.equal(spec.layer[1].encoding.x.scale.type, 'log');
    assert.equal(spec.layer[1].encoding.y.scale.type, 'log');
  }
  assert.deepEqual([...new Set(specs[0].layer[1].data.values.map((v) => v.model))].sort(), ['amun', 'finetune', 'original', 'retrain (gold)']);
  assert.deepEqual([...new Set(specs[1].layer[1].data.values.map((v) => v.model))], ['original', 'retrain (gold)', 'amun']);
  assert.equal(svgsOf(outputs, 'charts').length, 2);
});

test('03-membership-inference says what is missing when no result file has a ROC curve', { timeout: 300_000 }, (t) => {
  if (!jupyterOrSkip(t)) return;
  const run = runNotebooks(['03-membership-inference'], { LETHE_RESULTS: writeFixtureResults() });
  assert.equal(run.status, 1, run.output);
  assert.match(run.stderr, /no result file carries a ROC curve \(mia\.byAttack\.<attack>\.roc, written since 2026-12-07/);
});

const PLANNED_RUNS = 3; // benchmarks/cifar10-cpu.json: 3 original models x 1 forget-set draw x 1 unlearning run

test('05-reproduction reports the published cifar10-cpu results as they are: runs per method, the table, the charts and the ranks', { timeout: 300_000 }, (t) => {
  if (!jupyterOrSkip(t)) return;
  const dir = path.resolve(notebooksDir, '..', 'leaderboard', 'results', 'cifar10-cpu');
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));
  const { outputs } = execute('05-reproduction', { LETHE_RESULTS: '' });

  assert.match(stdoutOf(outputs, 'load'), new RegExp(`^${files.length} cifar10-cpu result files in `));
  // runs per method: as many as the method's files
  const [progress] = dataOf(outputs, 'progress', 'text/markdown').map(text);
  const methods = JSON.parse(fs.readFileSync(path.resolve(notebooksDir, '..', 'benchmarks', 'cifar10-cpu.json'), 'utf8')).methods.map((m) => m.label ?? m.name);
  for (const m of methods) {
    const runs = files.filter((f) => f.startsWith(`${m}.`)).length;
    assert.match(progress, new RegExp(`^\\| ${m} \\| ${runs} of ${PLANNED_RUNS} \\|`, 'm'));
  }
  assert.match(progress, new RegExp(`of ${methods.length * PLANNED_RUNS} result files`));

  const [table] = dataOf(outputs, 'table', 'text/markdown').map(text);
  for (const m of methods.filter((m) => files.some((f) => f.startsWith(`${m}.`)))) assert.match(table, new RegExp(`^\\| ${m} \\| \\d+ \\|`, 'm'));
  assert.ok(dataOf(outputs, 'charts', VEGA_LITE_MIME).length >= 2);
  assert.equal(svgsOf(outputs, 'charts').length, dataOf(outputs, 'charts', VEGA_LITE_MIME).length);
  const [ranks] = dataOf(outputs, 'rank', 'text/markdown').map(text);
  assert.match(ranks, /Kendall's tau-b between the two orders: -?\d\.\d\d over \d+ methods|a ranking needs 2/);
});

test('05-reproduction shows intervals, partial runs and the rank against AMUN Table 1 on made-up results', { timeout: 300_000 }, (t) => {
  if (!jupyterOrSkip(t)) return;
  // MADE-UP numbers (two runs per method), not measurements. Gaps of the means: amun 1/3, finetune 2/3,
  // random-label 2; AMUN's Table 1 orders them amun (0.62), random-label (1.74), finetune (2.06): tau-b = 1/3.
  const results = writeFixtureResults('cifar10-cpu', {
    retrain: [GOLD, GOLD],
    amun: [{ UA: 91, RA: 98, TA: 91 }, { UA: 89, RA: 98, TA: 91 }],
    finetune: [{ UA: 95, RA: 98, TA: 90 }, { UA: 85, RA: 98, TA: 90 }],
    'random-label': [{ UA: 87, RA: 98, TA: 90 }, { UA: 85, RA: 98, TA: 90 }],
  });
  const { outputs } = execute('05-reproduction', { LETHE_RESULTS: results });

  const [progress] = dataOf(outputs, 'progress', 'text/markdown').map(text);
  assert.match(progress, /^\*\*Partial\*\*: 0 of 14 methods have all 3 runs; 8 of 42 result files\./);
  assert.match(progress, /^\| finetune \| 2 of 3 \| 0, 1 \|$/m);
  assert.match(progress, /^\| tmu \| 0 of 3 \| - \|$/m);

  const [table] = dataOf(outputs, 'table', 'text/markdown').map(text);
  assert.match(table, /^\| finetune \| 2 \| 90\.00 ± 63\.53 \| 98\.00 ± 0\.00 \| 90\.00 ± 0\.00 \|/m);

  // error bars: the accuracy chart carries each method's 95% interval
  const accuracy = dataOf(outputs, 'charts', VEGA_LITE_MIME).find((s) => s.title.text === 'Accuracy per method');
  const finetuneUA = accuracy.data.values.find((v) => v.method === 'finetune' && v.metric === 'UA');
  // mean 90, half-width t(0.975, 1 df) x 5 = 63.53
  assert.ok(Math.abs(finetuneUA.low - 26.469) < 0.001 && Math.abs(finetuneUA.high - 153.531) < 0.001, `${finetuneUA.low}..${finetuneUA.high}`);
  assert.match(accuracy.title.subtitle, /error bars: 95% interval of the mean over the runs/);

  const [ranks] = dataOf(outputs, 'rank', 'text/markdown').map(text);
  assert.match(ranks, /^\| AMUN \(amun\) \| 0\.62 \| 1 \| 0\.33 \| 1 \|$/m);
  assert.match(ranks, /^\| RL \(random-label\) \| 1\.74 \| 2 \| 2\.00 \| 3 \|$/m);
  assert.match(ranks, /^\| FT \(finetune\) \| 2\.06 \| 3 \| 0\.67 \| 2 \|$/m);
  assert.match(ranks, /Kendall's tau-b between the two orders: 0\.33 over 3 methods \(no results yet: GA, BS, l1-sparse, SalUn, AMUN\+SalUn\)/);
  const [rankChart] = dataOf(outputs, 'rank', VEGA_LITE_MIME);
  assert.equal(rankChart.data.values.length, 6);
  assert.equal(svgsOf(outputs, 'rank').length, 1);
});

test('--in-place writes the executed notebook, outputs included, over its source; a failing one is left as it was', { timeout: 300_000 }, (t) => {
  if (!jupyterOrSkip(t)) return;
  const dir = tmp('lethe-nb-inplace-');
  // outside the workspace tslab sees no @types/node (no console): the cell's last value is its output
  const ok = writeNotebook(dir, 'ok', ['const answer: number = 6 * 7;\nanswer']);
  const bad = writeNotebook(dir, 'bad', ["throw new Error('deliberate');"]);
  const badBefore = fs.readFileSync(bad, 'utf8');
  const run = runNotebooks(['--in-place', ok, bad]);
  assert.equal(run.status, 1, run.output);
  const executed = JSON.parse(fs.readFileSync(ok, 'utf8'));
  assert.equal(text(executed.cells[0].outputs[0].text), '42\n');
  assert.equal(executed.cells[0].metadata.execution, undefined, 'no timestamps in committed notebooks');
  assert.equal(fs.readFileSync(bad, 'utf8'), badBefore);
});

test('the committed notebooks carry the outputs of a successful execution, charts included', () => {
  for (const name of ['01-quickstart', '02-your-own-unlearner', '03-membership-inference', '04-perturbation', '05-reproduction']) {
    const nb = JSON.parse(fs.readFileSync(path.join(notebooksDir, `${name}.ipynb`), 'utf8'));
    // tslab reports no execution counts: the outputs are the evidence of the execution
    const outputs = outputsOf(nb);
    assert.ok(outputs.length >= 4, `${name}: executed, with outputs`);
    assertNoErrors(outputs);
    const svgs = outputs.map((o) => text(o.data?.['text/html'])).filter((h) => h.startsWith('<svg'));
    const specs = outputs.filter((o) => o.data?.[VEGA_LITE_MIME]);
    assert.ok(svgs.length >= 2 && svgs.length === specs.length, `${name}: each chart live and as SVG (${specs.length} live, ${svgs.length} SVG)`);
  }
});
