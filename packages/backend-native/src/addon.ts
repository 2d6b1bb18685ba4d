import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Loading the C++ addon (native/*.cc, built by scripts/build-native.mjs into build/lethe_native.node).
 *
 * The addon is optional: `pnpm install` builds it when oneDNN, a C++ compiler and Node's headers are present and
 * otherwise prints one line saying what to install. Everything here reports a missing addon as a
 * NativeUnavailableError carrying that same advice, so the runtime's backend ladder can skip this backend with a
 * reason and a forced `--backend native` can say how to get it.
 */

/** The functions the addon exports (native/addon.cc). All are synchronous and write into `out` arrays. */
export interface NativeAddon {
  /** winograd: whether 3x3 stride-1 convolutions with 64+ channels use Winograd kernels (on, and this CPU has them) */
  info(): { dnnl: string; isa: string; threads: number; cachedPrimitives: number; winograd: boolean };
  /** turn Winograd convolutions on or off (clears the primitive cache when it changes) */
  setWinograd(on: boolean): void;
  setThreads(n: number): void;
  clearCache(): void;
  /** kind 0: forward (a = x, b = filter, out = y), 1: input gradient (a = dy), 2: filter gradient (a = x, b = dy) */
  conv2d(kind: 0 | 1 | 2, params: Int32Array, a: Float32Array, b: Float32Array, out: Float32Array, bias: Float32Array | null): void;
  /** params: transA, transB, M, N, K, lda, strideA, ldb, strideB, ldc, strideC, batch */
  sgemm(params: Int32Array, a: Float32Array, b: Float32Array, c: Float32Array): void;
  /** shapes: rank, then the output, a and b shapes, each padded with leading 1s to rank */
  binary(op: number, shapes: Int32Array, a: Float32Array, b: Float32Array, out: Float32Array): void;
  unary(op: number, x: Float32Array, out: Float32Array, n: number, alpha?: number): void;
  fused2(op: number, a: Float32Array, b: Float32Array, out: Float32Array, n: number): void;
  /** x viewed as [A, K, B]; out [A, B] = scale * sum over K (of x * y when y is given) */
  reduceSum(x: Float32Array, out: Float32Array, A: number, K: number, B: number, scale: number, y?: Float32Array): void;
  /** kind 0: max pool, 1: avg pool, 2: max pool gradient (a = x, out = dx, dy), 3: avg pool gradient (a = dy, out = dx) */
  pool(kind: 0 | 1 | 2 | 3, params: Int32Array, a: Float32Array, out: Float32Array, dy?: Float32Array): void;
  /** out[i] = ops applied in turn to src[i] with vecs[k * P + i mod P] (a deferred elementwise chain); extra: AddFull's operand */
  chain(src: Float32Array, out: Float32Array, n: number, P: number, ops: Int32Array, vecs: Float32Array, extra?: Float32Array): void;
  /** training-mode batch norm over x viewed as [R, C]: y = act(normalised x * gamma + beta [+ residual]), batch mean and biased variance */
  batchNormTrain(x: Float32Array, gamma: Float32Array, beta: Float32Array, residual: Float32Array | null, epsilon: number, relu: boolean, R: number, C: number, y: Float32Array, mean: Float32Array, variance: Float32Array): void;
  /** its gradient (y: the forward output, read with relu; dmean, dvar: gradients of the statistics; dres receives the residual's gradient) */
  batchNormTrainGrad(
    dy: Float32Array, x: Float32Array, y: Float32Array | null, gamma: Float32Array, mean: Float32Array, variance: Float32Array,
    dmean: Float32Array | null, dvar: Float32Array | null, epsilon: number, relu: boolean, R: number, C: number,
    dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array, dres: Float32Array | null,
  ): void;
}

/** What to do to get the native backend; the same advice the install step prints. */
export const INSTALL_ADVICE =
  'Debian/Ubuntu: apt-get install libdnnl-dev, then pnpm --filter @lethe/backend-native build; ' +
  'elsewhere: install oneDNN 2.x and set DNNL_ROOT';

export class NativeUnavailableError extends Error {
  /** the short technical reason, e.g. "libdnnl-dev is missing" */
  readonly reason: string;
  /** what to install, for a person to act on */
  readonly advice: string;
  constructor(reason: string, advice: string = INSTALL_ADVICE, options?: { cause?: unknown }) {
    super(`native CPU backend not built: ${reason} (${advice})`, options);
    this.name = 'NativeUnavailableError';
    this.reason = reason;
    this.advice = advice;
  }
}

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Where the addon is loaded from: $LETHE_NATIVE_ADDON, else build/lethe_native.node in this package. */
export function addonPath(): string {
  const fromEnv = process.env['LETHE_NATIVE_ADDON'];
  return fromEnv !== undefined && fromEnv !== '' ? resolve(fromEnv) : join(packageRoot, 'build', 'lethe_native.node');
}

interface BuildStatus {
  built: boolean;
  reason?: string;
  advice?: string;
}

/** What the last build attempt recorded (build/status.json), if anything. */
function buildStatus(): BuildStatus | undefined {
  const file = join(packageRoot, 'build', 'status.json');
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as BuildStatus;
  } catch {
    return undefined;
  }
}

let loaded: NativeAddon | undefined;

/** Load the addon (once). Throws NativeUnavailableError saying why not and what to install. */
export function loadAddon(): NativeAddon {
  if (loaded) return loaded;
  const path = addonPath();
  if (!existsSync(path)) {
    const status = path === join(packageRoot, 'build', 'lethe_native.node') ? buildStatus() : undefined;
    if (status && !status.built && status.reason) throw new NativeUnavailableError(status.reason, status.advice ?? INSTALL_ADVICE);
    throw new NativeUnavailableError(`no addon at ${path}`);
  }
  // OpenMP threads that have finished a parallel region spin by default, waiting for the next one. Between two
  // kernels this process runs JavaScript (and V8 its garbage collector), so a spinning worker only takes a core
  // from them, and on a busy machine it can stall every region (measured: 16 ms for a 1 ms kernel). Sleep instead,
  // unless the user chose a policy. libgomp reads these when it is loaded, i.e. during the require below; they are
  // removed again afterwards so that child processes (e.g. a PyTorch comparison) keep their own defaults.
  const setPolicy = process.env['OMP_WAIT_POLICY'] === undefined && process.env['GOMP_SPINCOUNT'] === undefined;
  if (setPolicy) process.env['OMP_WAIT_POLICY'] = 'PASSIVE';
  try {
    loaded = createRequire(import.meta.url)(path) as NativeAddon;
  } catch (e) {
    const text = (e instanceof Error ? e.message : String(e)).split('\n')[0]!.slice(0, 300);
    // typically libdnnl.so.2 missing at run time after it was removed, or a build for another Node ABI
    throw new NativeUnavailableError(`the addon at ${path} does not load: ${text}`, INSTALL_ADVICE, { cause: e });
  } finally {
    if (setPolicy) delete process.env['OMP_WAIT_POLICY'];
  }
  return loaded;
}

/** Whether the addon loads here, and if not why (never throws). */
export function nativeAvailability(): { available: true } | { available: false; reason: string; advice: string; message: string } {
  try {
    loadAddon();
    return { available: true };
  } catch (e) {
    if (e instanceof NativeUnavailableError) return { available: false, reason: e.reason, advice: e.advice, message: e.message };
    throw e;
  }
}
