import cliProgress from 'cli-progress';
import type { TrainProgress } from '@lethe/core';

/**
 * Progress of long phases (training, unlearning). On a terminal: a cli-progress bar per phase. Elsewhere
 * (CI, logs): one line per epoch, so a log shows the run advancing without carriage-return noise.
 */
export interface PhaseProgress {
  update(progress: TrainProgress): void;
  stop(): void;
}

export function createPhaseProgress(phase: string, log: (line: string) => void, interactive: boolean): PhaseProgress {
  const started = performance.now();
  const elapsed = (): string => `${((performance.now() - started) / 1000).toFixed(1)} s`;
  if (interactive) {
    const bar = new cliProgress.SingleBar(
      { format: `  ${phase.padEnd(22)} [{bar}] {percentage}% | epoch {epoch}/{epochs} | loss {loss} | eta {eta_formatted}`, hideCursor: true, clearOnComplete: false, etaBuffer: 50 },
      cliProgress.Presets.shades_classic,
    );
    let started_ = false;
    let lastLoss = '-';
    return {
      update(p) {
        const steps = p.stepsPerEpoch ?? 1;
        const total = p.epochs * steps;
        if (!started_) {
          bar.start(total, 0, { epoch: 1, epochs: p.epochs, loss: lastLoss });
          started_ = true;
        }
        if (p.epochLoss !== undefined) lastLoss = p.epochLoss.toFixed(4);
        bar.update(Math.min(total, p.epoch * steps + p.step), { epoch: p.epoch + 1, epochs: p.epochs, loss: lastLoss });
      },
      stop() {
        if (started_) bar.stop();
        log(`  ${phase}: done in ${elapsed()}`);
      },
    };
  }
  return {
    update(p) {
      if (p.epochLoss === undefined) return;
      log(`  ${phase}: epoch ${p.epoch + 1}/${p.epochs}  loss ${p.epochLoss.toFixed(4)}  lr ${p.learningRate.toPrecision(3)}  (${elapsed()})`);
    },
    stop() {
      log(`  ${phase}: done in ${elapsed()}`);
    },
  };
}
