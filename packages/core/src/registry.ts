import { z } from 'zod';
import type { Setting, UnlearnerDefinition } from './unlearner.js';

// A name -> definition map in the manner of tfjs-core's kernel registry: adding a method is one file and
// one registerUnlearner call; the harness, CLI, notebooks and leaderboard find it by name.
const registry = new Map<string, UnlearnerDefinition>();

export function registerUnlearner<H extends Record<string, unknown>>(definition: UnlearnerDefinition<H>): void {
  if (registry.has(definition.name)) throw new Error(`unlearner '${definition.name}' is already registered`);
  registry.set(definition.name, definition as unknown as UnlearnerDefinition);
}

export function listUnlearners(): UnlearnerDefinition[] {
  return [...registry.values()];
}

export function getUnlearner(name: string): UnlearnerDefinition {
  const found = registry.get(name);
  if (!found) throw new Error(`unknown unlearner '${name}'; known: ${[...registry.keys()].join(', ')}`);
  return found;
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
