#!/usr/bin/env node
// Run notebooks headless in real Jupyter (nbconvert + the tslab kernel) and fail loudly with the failing
// cell's own error message.
//
//   node scripts/run-notebooks.mjs [--output-dir DIR] [--in-place] [--quiet] [notebook ...]
//
// Notebooks may be given as paths or as names in this folder (with or without .ipynb); none means every
// notebook in this folder. Executed copies go to DIR as <name>.out.ipynb (default: a temp dir, printed);
// --in-place also writes each notebook that ran without error back over its source, outputs included (how the
// committed notebooks get their outputs). A failing notebook is never overwritten.
// Exit code 0 when all succeed, 1 when any fails or Jupyter is missing, 2 on bad arguments.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const JUPYTER = '/usr/bin/jupyter';
const JUPYTER_INSTALL =
  'apt-get update && apt-get install -y --no-install-recommends jupyter-nbconvert python3-nbconvert python3-nbclient jupyter-client python3-ipykernel jupyter-core';
const KERNEL_NAME = 'tslab';
const CELL_TIMEOUT_SECONDS = 600;

const notebooksDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function usage(message) {
  console.error(`${message}\nusage: node scripts/run-notebooks.mjs [--output-dir DIR] [--in-place] [--quiet] [notebook ...]`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { outputDir: null, inPlace: false, quiet: false, notebooks: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--output-dir') opts.outputDir = argv[++i] ?? usage('--output-dir needs a directory');
    else if (a.startsWith('--output-dir=')) opts.outputDir = a.slice('--output-dir='.length);
    else if (a === '--quiet') opts.quiet = true;
    else if (a === '--in-place') opts.inPlace = true;
    else if (a === '--help' || a === '-h') usage('Run Lethe notebooks headless.');
    else if (a.startsWith('-')) usage(`unknown option ${a}`);
    else opts.notebooks.push(a);
  }
  return opts;
}

function resolveNotebook(arg) {
  const candidates = [arg, path.join(notebooksDir, arg), path.join(notebooksDir, `${arg}.ipynb`)];
  const found = candidates.find((c) => c.endsWith('.ipynb') && fs.existsSync(c) && fs.statSync(c).isFile());
  if (!found) usage(`notebook not found: ${arg}`);
  return path.resolve(found);
}

function allNotebooks() {
  return fs
    .readdirSync(notebooksDir)
    .filter((f) => f.endsWith('.ipynb') && !f.endsWith('.out.ipynb'))
    .sort()
    .map((f) => path.join(notebooksDir, f));
}

/** The tslab entry script, resolved from this package so the kernel runs on this very Node binary. */
function tslabEntry() {
  const require = createRequire(path.join(notebooksDir, 'package.json'));
  const pkgJson = require.resolve('tslab/package.json');
  const bin = JSON.parse(fs.readFileSync(pkgJson, 'utf8')).bin;
  return path.join(path.dirname(pkgJson), typeof bin === 'string' ? bin : bin.tslab);
}

/**
 * A private JUPYTER_PATH with only our kernelspec: no `tslab install` into the user's Jupyter, and a
 * kernelspec installed there earlier cannot shadow this one (JUPYTER_PATH is searched first).
 */
function writeKernelSpec(root) {
  const dir = path.join(root, 'jupyter', 'kernels', KERNEL_NAME);
  fs.mkdirSync(dir, { recursive: true });
  const spec = {
    argv: [process.execPath, tslabEntry(), 'kernel', '--config-path', '{connection_file}'],
    display_name: 'TypeScript (tslab)',
    language: 'typescript',
  };
  fs.writeFileSync(path.join(dir, 'kernel.json'), JSON.stringify(spec, null, 2));
  return path.join(root, 'jupyter');
}

/**
 * nbconvert writes no output notebook when a cell fails, and tslab reports errors on the cell's stderr
 * stream rather than in the reply, so a config hook (nbclient's on_cell_error) saves the failing cell.
 */
function writeErrorHookConfig(root) {
  const file = path.join(root, 'lethe_nbconvert_config.py');
  fs.writeFileSync(
    file,
    `import json, os

def _lethe_save_failing_cell(cell, cell_index, execute_reply):
    target = os.environ.get('LETHE_NB_ERROR_FILE')
    if not target:
        return
    content = execute_reply.get('content', {})
    with open(target, 'w') as f:
        json.dump({'cell_index': cell_index, 'cell_id': cell.get('id'), 'source': cell.get('source', ''), 'outputs': cell.get('outputs', []),
                   'ename': content.get('ename'), 'evalue': content.get('evalue'), 'traceback': content.get('traceback')}, f)

c.ExecutePreprocessor.on_cell_error = _lethe_save_failing_cell
`,
  );
  return file;
}

const text = (v) => (Array.isArray(v) ? v.join('') : String(v ?? ''));

/** The readable error of a failed cell: its stderr/error outputs, else the reply's ename/evalue. */
function describeFailure(info) {
  const lines = [];
  for (const o of info.outputs ?? []) {
    if (o.output_type === 'stream' && o.name === 'stderr') lines.push(text(o.text).trimEnd());
    else if (o.output_type === 'error') lines.push(`${o.ename}: ${o.evalue}`, ...(o.traceback ?? []).map(String));
  }
  if (lines.length === 0 && (info.ename || info.evalue)) lines.push(`${info.ename ?? 'Error'}: ${info.evalue ?? ''}`);
  // Jupyter tracebacks may carry ANSI colours.
  const ansiColour = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');
  return lines.join('\n').replace(ansiColour, '');
}

function runNotebook(nb, { outputDir, work, jupyterPath, configFile, quiet, inPlace }) {
  const name = path.basename(nb, '.ipynb');
  const output = path.join(outputDir, `${name}.out.ipynb`);
  const errorFile = path.join(work, `${name}.error.json`);
  fs.rmSync(errorFile, { force: true });
  const started = Date.now();
  const res = spawnSync(
    JUPYTER,
    [
      'nbconvert',
      '--config',
      configFile,
      '--to',
      'notebook',
      '--execute',
      `--ExecutePreprocessor.kernel_name=${KERNEL_NAME}`,
      `--ExecutePreprocessor.timeout=${CELL_TIMEOUT_SECONDS}`,
      // no per-cell timestamps in the cells' metadata: committed notebooks would change on every execution
      '--ExecutePreprocessor.record_timing=False',
      '--output',
      output,
      nb,
    ],
    {
      cwd: path.dirname(nb),
      encoding: 'utf8',
      env: {
        ...process.env,
        JUPYTER_PATH: jupyterPath,
        // keep connection files out of the user's home
        JUPYTER_RUNTIME_DIR: path.join(work, 'runtime'),
        LETHE_NB_ERROR_FILE: errorFile,
      },
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (res.error) return { ok: false, message: `could not start ${JUPYTER}: ${res.error.message}` };
  if (res.status === 0) {
    if (inPlace) fs.copyFileSync(output, nb);
    if (!quiet) console.log(`ok   ${path.relative(process.cwd(), nb) || nb} (${seconds} s) -> ${inPlace ? `${output} and ${nb}` : output}`);
    return { ok: true, output };
  }
  let message;
  if (fs.existsSync(errorFile)) {
    const info = JSON.parse(fs.readFileSync(errorFile, 'utf8'));
    message =
      `cell ${info.cell_index + 1}${info.cell_id ? ` (id ${info.cell_id})` : ''} failed:\n` +
      `--- source ---\n${text(info.source).trimEnd()}\n` +
      `--- error ---\n${describeFailure(info) || '(the kernel reported an error without a message)'}`;
  } else {
    // No hook output (e.g. the kernel did not start): nbconvert's own stderr is the best we have.
    message = `nbconvert exited with ${res.status ?? res.signal}:\n${(res.stderr ?? '').split('\n').slice(-40).join('\n')}`;
  }
  return { ok: false, message };
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (!fs.existsSync(JUPYTER)) {
    console.error(`${JUPYTER} not found: Jupyter is needed to run notebooks. Install it with:\n  ${JUPYTER_INSTALL}`);
    process.exit(1);
  }
  const notebooks = opts.notebooks.length > 0 ? opts.notebooks.map(resolveNotebook) : allNotebooks();
  if (notebooks.length === 0) usage(`no notebooks found in ${notebooksDir}`);

  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-notebooks-'));
  const outputDir = path.resolve(opts.outputDir ?? path.join(work, 'out'));
  fs.mkdirSync(outputDir, { recursive: true });
  const ctx = { outputDir, work, jupyterPath: writeKernelSpec(work), configFile: writeErrorHookConfig(work), quiet: opts.quiet, inPlace: opts.inPlace };

  let failed = 0;
  for (const nb of notebooks) {
    const r = runNotebook(nb, ctx);
    if (!r.ok) {
      failed++;
      console.error(`FAIL ${nb}\n${r.message}\n`);
    }
  }
  if (!opts.quiet) console.log(`${notebooks.length - failed}/${notebooks.length} notebooks ran; executed copies in ${outputDir}`);
  // Kernelspec, runtime files and error reports are scratch; keep the temp dir only if it holds the outputs.
  if (opts.outputDir) fs.rmSync(work, { recursive: true, force: true });
  process.exit(failed > 0 ? 1 : 0);
}

main();
