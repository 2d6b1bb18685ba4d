/**
 * Lethe's side of the throughput benchmark, in a process of its own per (backend, model): perf.ts forks it and
 * sends it commands over IPC, as it does to torch_bench.py --serve over a pipe. A fresh process per model keeps
 * the measurements independent (the wasm heap only grows and never returns memory) and lets a model that does not
 * fit (ResNet-18 at batch 128 overflows wasm's 4 GiB heap) fail alone.
 *
 * Messages in:  {cmd: 'init', backend, model, batch} | {cmd: 'train', steps} | {cmd: 'infer', steps}
 * Messages out: {ok: true, seconds?, backend?, threads?, maxRssBytes} | {ok: false, error}
 */
import { initBackend, type BackendName } from '@lethe/runtime';
import { modelSpec, parseModelName } from './cases.js';
import { LetheRunner } from './lethe.js';

type Command = { cmd: 'init'; backend: string; model: string; batch: number } | { cmd: 'train' | 'infer'; steps: number };

let runner: LetheRunner | undefined;

function reply(message: Record<string, unknown>): void {
  process.send!({ ...message, maxRssBytes: process.resourceUsage().maxRSS * 1024 });
}

async function handle(command: Command): Promise<void> {
  try {
    switch (command.cmd) {
      case 'init': {
        const info = await initBackend(command.backend as BackendName);
        runner = new LetheRunner(modelSpec(parseModelName(command.model)), command.batch);
        reply({ ok: true, backend: info.name, threads: info.threads ?? null });
        return;
      }
      case 'train':
        reply({ ok: true, seconds: await runner!.train(command.steps) });
        return;
      case 'infer':
        reply({ ok: true, seconds: runner!.infer(command.steps) });
        return;
    }
  } catch (e) {
    reply({ ok: false, error: e instanceof Error ? e.message : String(e) });
  }
}

if (!process.send) {
  console.error('lethe-worker.js is started by perf.js (child_process.fork), not directly');
  process.exit(2);
}
// one command at a time, in order
let queue = Promise.resolve();
process.on('message', (command: Command) => {
  queue = queue.then(() => handle(command));
});
process.on('disconnect', () => process.exit(0));
