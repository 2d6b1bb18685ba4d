import { availableParallelism } from 'node:os';
import { BACKEND_NAMES, BackendUnavailableError, initBackend, type BackendInfo, type BackendName } from '@lethe/runtime';

/**
 * Which Lethe compute backends to benchmark. The list comes from @lethe/runtime's ladder, plus 'native' (the
 * oneDNN backend) when this version of the runtime does not list it yet; each is tried with initBackend and
 * left out, with the reason, when it does not load. The pure-JS 'cpu' backend trains at about 0.35 images/s
 * (ENVIRONMENT.md), so it runs only when asked for by name.
 */
export function candidateBackends(): string[] {
  const names: string[] = [...BACKEND_NAMES];
  if (!names.includes('native')) names.push('native');
  return names;
}

export interface BackendChoice {
  info: BackendInfo;
  threads: number;
  /** how tables and JSON name it: the backend's name, or e.g. 'wasm@1' for one of several wasm thread counts */
  label: string;
  /** environment for the worker processes that measure it */
  env: Record<string, string>;
}

/**
 * With --wasm-threads, the wasm entry becomes one entry per thread count. Each is measured in worker processes
 * started with LETHE_WASM_THREADS set, since the wasm module fixes its thread count when it starts.
 */
export function expandWasmThreads(chosen: BackendChoice[], threads: number[] | undefined): BackendChoice[] {
  if (threads === undefined) return chosen;
  return chosen.flatMap((c) => {
    if (c.info.name !== 'wasm') return [c];
    return threads.map((t) => ({
      info: { ...c.info, threads: t, detail: (c.info.detail ?? '').replace(/\d+ thread\(s\)/, `${t} thread(s)`) },
      threads: t,
      label: `wasm@${t}`,
      env: { LETHE_WASM_THREADS: String(t) },
    }));
  });
}

export interface BackendSelection {
  /** the default backend (LETHE_BACKEND, else 'auto'), first */
  chosen: BackendChoice[];
  defaultBackend: BackendChoice;
  /** backends left out, with why */
  skipped: { name: string; reason: string }[];
}

/**
 * The number of threads a backend computes with, which PyTorch is then given too: a `threads` field of the
 * backend's info when it has one (wasm: XNNPACK's pool, LETHE_WASM_THREADS; native: LETHE_NATIVE_THREADS), else
 * "<n> thread(s)" in its detail line,
 * else all cores for a native backend and 1 for the JavaScript ones.
 */
export function backendThreads(info: BackendInfo): number {
  const withThreads = info as BackendInfo & { threads?: unknown };
  if (typeof withThreads.threads === 'number' && withThreads.threads >= 1) return withThreads.threads;
  const match = /(\d+)\s+thread/.exec(info.detail ?? '');
  if (match) return Number(match[1]);
  if (info.name === 'wasm' || info.name === 'cpu') return 1;
  return availableParallelism();
}

/**
 * Load the backends to measure. `requested` is a list of names, or undefined for "the default and every other
 * one that loads, except cpu". Leaves the default backend active.
 */
export async function selectBackends(requested: string[] | undefined, log: (line: string) => void): Promise<BackendSelection> {
  const defaultInfo = await initBackend();
  const defaultBackend: BackendChoice = { info: defaultInfo, threads: backendThreads(defaultInfo), label: defaultInfo.name, env: {} };
  const skipped: { name: string; reason: string }[] = [];
  const chosen: BackendChoice[] = [];
  const names = requested ?? candidateBackends();
  if (requested === undefined || requested.includes(defaultInfo.name)) chosen.push(defaultBackend);
  for (const name of names) {
    if (name === defaultInfo.name) continue;
    if (requested === undefined && name === 'cpu') {
      skipped.push({ name, reason: 'pure JavaScript, about 0.35 training images/s: run it with --backends cpu (and --reps 1)' });
      continue;
    }
    try {
      const info = await initBackend(name as BackendName);
      chosen.push({ info, threads: backendThreads(info), label: info.name, env: {} });
    } catch (e) {
      if (e instanceof BackendUnavailableError) skipped.push({ name, reason: e.reason });
      else if (e instanceof Error && /unknown backend/.test(e.message)) skipped.push({ name, reason: 'not a backend of this @lethe/runtime' });
      else throw e;
    }
  }
  await initBackend(defaultInfo.name);
  for (const s of skipped) log(`backend ${s.name}: skipped (${s.reason})`);
  return { chosen, defaultBackend, skipped };
}
