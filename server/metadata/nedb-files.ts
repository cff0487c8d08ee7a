/** What the nedb stores that hold primary data (not the rebuildable index) share about their files. */
import fs from 'node:fs/promises';
import Datastore from 'nedb-promises';

/**
 * Loads a collection; a file nedb cannot read is moved aside (its new name added to `setAside`, for the
 * caller to report) and a new, empty one started, so a damaged file never keeps the registry from
 * starting. `modes`: file and folder permissions (nedb's option) for files that hold secrets.
 */
export async function loadOrSetAside<T>(filename: string, setAside: string[], modes?: { fileMode: number; dirMode: number }): Promise<Datastore<T>> {
  const create = () => Datastore.create({ filename, autoload: false, ...(modes ? { modes } : {}) } as Parameters<typeof Datastore.create>[0]) as unknown as Datastore<T>;
  const store = create();
  try {
    await store.load();
    return store;
  } catch {
    const aside = `${filename}.unreadable-${Date.now()}`;
    await fs.rename(filename, aside);
    setAside.push(aside);
    const fresh = create();
    await fresh.load();
    return fresh;
  }
}
