import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import type { BackendInfo } from '@lethe/runtime';
import type { Provenance } from '../results/results.js';

const require = createRequire(import.meta.url);

function packageVersion(name: string): string | null {
  try {
    return (JSON.parse(fs.readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as { version: string }).version;
  } catch {
    return null;
  }
}

/** The commit of the git checkout the run happens in, or null (not a checkout, or git missing). */
export function gitCommit(cwd = process.cwd()): string | null {
  try {
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    return dirty ? `${head}+dirty` : head;
  } catch {
    return null;
  }
}

export function collectProvenance(backend: BackendInfo, dataChecksum: string, configHash: string): Provenance {
  const lethe: Record<string, string> = {};
  for (const name of ['@lethe/runtime', '@lethe/datasets', '@lethe/models', '@lethe/core', '@lethe/metrics', '@lethe/harness']) {
    const v = packageVersion(name);
    if (v) lethe[name] = v;
  }
  const cpus = os.cpus();
  return {
    lethe,
    tfjs: tf.version_core,
    backend: {
      name: backend.name,
      tfjsBackend: backend.tfjsBackend,
      version: backend.version,
      ...(backend.threads !== undefined ? { threads: backend.threads } : {}),
      ...(backend.detail !== undefined ? { detail: backend.detail } : {}),
    },
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpus: `${cpus.length} x ${cpus[0]?.model ?? 'unknown'}`,
    gitCommit: gitCommit(),
    dataChecksum,
    configHash,
    createdAt: new Date().toISOString(),
  };
}
