import { access } from 'node:fs/promises';

/** Whether `path` exists (and is reachable): the loader and the fetcher both probe for files this way. */
export async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
