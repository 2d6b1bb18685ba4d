/**
 * One registry type for every kind of component Lethe looks up by name (unlearners, membership attacks, metrics, data
 * sets, models), in the manner of tfjs-core's kernel registry and lm-evaluation-harness's registry: a map from a name
 * to a definition that describes itself, so that adding a component is one file plus one `register` call and every
 * consumer (configs, CLI, harness, tables, leaderboard) finds it by name. Errors name the kind, the name and the known
 * names. Imports nothing (the light subpath `@lethe/runtime/registry` loads no TensorFlow.js).
 */
export class Registry<T extends { name: string }> {
  private readonly entries = new Map<string, T>();

  /** `kind` names the components in messages: "unknown unlearner 'amn'; known: ..." */
  constructor(readonly kind: string) {}

  register(definition: T): void {
    if (this.entries.has(definition.name)) throw new Error(`${this.kind} '${definition.name}' is already registered`);
    this.entries.set(definition.name, definition);
  }

  get(name: string): T {
    const found = this.entries.get(name);
    if (!found) throw new Error(`unknown ${this.kind} '${name}'; known: ${this.names().join(', ')}`);
    return found;
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** Remove an entry (tests, plug-ins that replace one); whether there was one. */
  unregister(name: string): boolean {
    return this.entries.delete(name);
  }

  /** Definitions in registration order. */
  list(): T[] {
    return [...this.entries.values()];
  }

  names(): string[] {
    return [...this.entries.keys()];
  }
}
