/**
 * Repository delete: removes a repository's tags, manifest links and layer links, and its index
 * entries. Blobs are shared across repositories and stay until the next garbage collection frees the
 * ones nothing else uses. Repositories nested under the name ("team/app/web" under "team/app") are
 * separate repositories and are kept.
 */
import type { IndexStore } from '../metadata/index-store.ts';
import type { RepositoryStore } from '../storage/repository-store.ts';
import { RegistryError } from './errors.ts';
import type { RegistryEvents } from './events.ts';
import type { LinkGuard } from './link-guard.ts';
import { parseName } from './reference.ts';

export interface RepositoryDeleteDeps {
  repositories: RepositoryStore;
  index: IndexStore;
  guard: LinkGuard;
  events: RegistryEvents;
}

export interface DeletedRepository {
  repository: string;
  /** The tags it had, sorted. */
  tags: string[];
  manifests: number;
  layers: number;
}

export async function deleteRepository(deps: RepositoryDeleteDeps, name: string): Promise<DeletedRepository> {
  const repo = parseName(name);
  const { repositories, index, guard, events } = deps;
  // Under the repository's lock, which every push takes to write a link (link-guard.ts): a push
  // either lands before (and is deleted with the rest) or after (and starts the repository afresh).
  const deleted = await guard.withRepository(repo, async () => {
    if (!(await repositories.repositoryExists(repo))) {
      throw new RegistryError('NAME_UNKNOWN', { message: `repository ${repo} is not known to this registry`, detail: { name: repo } });
    }
    const [tags, manifests, layers] = await Promise.all([
      repositories.listTags(repo),
      repositories.listManifests(repo),
      repositories.listLayers(repo),
    ]);
    await repositories.removeRepository(repo);
    await index.removeRepository(repo);
    return { repository: repo, tags: tags.map((t) => t.tag).sort(), manifests: manifests.length, layers: layers.length };
  });
  events.emit('repository-deleted', deleted);
  return deleted;
}
