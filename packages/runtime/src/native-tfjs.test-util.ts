// Test helper shared by backend.test.ts and native-missing.test.ts. Named *.test-util.ts so that `node --test dist/`
// does not run it as a test file, and not exported from index.ts.
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

/** Whether a native tfjs package has a built binding here (it cannot on machines without internet at install). */
export function nativeBuilt(pkg: string): boolean {
  let dir: string;
  try {
    dir = dirname(require.resolve(`${pkg}/package.json`));
  } catch {
    return false;
  }
  const walk = (d: string): boolean =>
    existsSync(d) && readdirSync(d, { withFileTypes: true }).some((e) => (e.isDirectory() ? walk(join(d, e.name)) : e.name === 'tfjs_binding.node'));
  return walk(join(dir, 'lib'));
}
