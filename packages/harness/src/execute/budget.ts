/**
 * A time limit for one invocation (`lethe run --time-limit`): long benchmarks run in parts, each part a process that
 * stops starting new jobs when its time is up and leaves everything it finished in the caches and result files, so
 * the next part (on this machine or another) picks up where it stopped. A job is not started when the time it is
 * expected to take (the last job of its kind in this process, or the caller's estimate) would overrun the limit.
 */
export class TimeBudget {
  private readonly started: number;
  private readonly lastSeconds = new Map<string, number>();
  /** the first job refused, for the closing message */
  refused: string | null = null;

  /** `now` (milliseconds) is the clock; tests pass their own */
  constructor(
    readonly limitSeconds: number | null,
    private readonly log: (line: string) => void = () => {},
    private readonly now: () => number = () => performance.now(),
  ) {
    if (limitSeconds !== null && !(limitSeconds > 0)) throw new Error(`a time limit must be positive, got ${limitSeconds} s`);
    this.started = now();
  }

  elapsedSeconds(): number {
    return (this.now() - this.started) / 1000;
  }

  /** Whether a job of `kind` may start now; the first refusal is logged with the job's name. */
  allows(kind: string, job: string, estimateSeconds?: number): boolean {
    if (this.refused !== null) return false;
    if (this.limitSeconds === null) return true;
    const expected = this.lastSeconds.get(kind) ?? estimateSeconds ?? 0;
    const elapsed = this.elapsedSeconds();
    if (elapsed + expected <= this.limitSeconds) return true;
    this.refused = job;
    this.log(
      `\ntime limit: ${formatDuration(elapsed)} of ${formatDuration(this.limitSeconds)} used; not starting ${job}` +
        (expected > 0 ? ` (expected to take ${formatDuration(expected)})` : '') +
        '. Everything finished so far is saved; run the same command again to continue.',
    );
    return false;
  }

  /**
   * Whether a checkpointed model training should stop at this epoch end: another epoch as long as the last would
   * overrun the limit. The training is saved there and the next run continues it.
   */
  stopsTraining(lastEpochSeconds: number): boolean {
    if (this.limitSeconds === null) return false;
    const stop = this.elapsedSeconds() + lastEpochSeconds > this.limitSeconds;
    if (stop && this.refused === null) this.refused = 'a model training (checkpointed at an epoch end)';
    return stop;
  }

  /** Record how long a job of `kind` took (the estimate for the next one). */
  record(kind: string, seconds: number): void {
    this.lastSeconds.set(kind, seconds);
  }

  get stopped(): boolean {
    return this.refused !== null;
  }
}

/** "2h 30m", "4m 05s", "12 s". */
export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(0)} s`;
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h ${String(m).padStart(2, '0')}m` : `${m}m ${String(s % 60).padStart(2, '0')}s`;
}

/** Parse "2.5h", "90m", "600s" or a number of seconds; errors name the accepted forms. */
export function parseDuration(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(h|m|s)?\s*$/i.exec(text);
  if (!m) throw new Error(`'${text}' is not a duration; write e.g. 2.5h, 90m or 600s`);
  const value = Number(m[1]);
  const unit = (m[2] ?? 's').toLowerCase();
  const seconds = unit === 'h' ? value * 3600 : unit === 'm' ? value * 60 : value;
  if (!(seconds > 0)) throw new Error(`a duration must be positive, got '${text}'`);
  return seconds;
}
