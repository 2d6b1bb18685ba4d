import { z } from 'zod';
import { Registry } from '@lethe/runtime/registry';
import type { Setting, UnlearnerDefinition } from './unlearner.js';

// Adding a method is one file and one registerUnlearner call; the harness, CLI, notebooks and leaderboard find it
// by name (the one registry type of @lethe/runtime/registry).
const registry = new Registry<UnlearnerDefinition>('unlearner');

export function registerUnlearner<H extends Record<string, unknown>>(definition: UnlearnerDefinition<H>): void {
  registry.register(definition as unknown as UnlearnerDefinition);
}

export function listUnlearners(): UnlearnerDefinition[] {
  return registry.list();
}

export function getUnlearner(name: string): UnlearnerDefinition {
  return registry.get(name);
}

/**
 * Validate hyper-parameters for `name` in `setting`, filling defaults, and check that the setting can honour them
 * (the definition's `checkSetting`). Errors name the method, the field and the reason.
 */
export function resolveHyperParameters(name: string, setting: Setting, raw: unknown): Record<string, unknown> {
  const definition = getUnlearner(name);
  if (!definition.settings.includes(setting)) {
    throw new Error(`unlearner '${name}' does not support the '${setting}' setting; it supports: ${definition.settings.join(', ')}`);
  }
  const parsed = definition.hyperParameters.safeParse(raw ?? {});
  if (!parsed.success) {
    throw new Error(`invalid hyper-parameters for unlearner '${name}':\n${z.prettifyError(parsed.error)}`);
  }
  definition.checkSetting?.(setting, parsed.data);
  return parsed.data;
}
