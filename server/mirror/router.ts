/**
 * Which requests the cache answers (upstreams.ts describes the three ways clients ask a mirror):
 *   - a name in an upstream's namespace (docker.io/library/alpine, or an alias's) is the cache of that
 *     upstream: pulls go through it, writes are refused (DENIED: the namespace is pull-only);
 *   - a name with `?ns=<host>` of a configured upstream, or with no hint at all (the default upstream),
 *     is mapped into that upstream's namespace, unless a local repository of that very name exists:
 *     what users pushed always wins over the cache;
 *   - everything else is local, exactly as without mirrors.
 */
import { RegistryError } from '../registry/errors.ts';
import { isDockerHub, targetFor, type MirrorTarget, type UpstreamSet } from './upstreams.ts';

export interface MirrorRouterDeps {
  upstreams(): UpstreamSet;
  /** Whether a repository of this name exists (was pushed) here. */
  repositoryExists(name: string): Promise<boolean>;
  now(): number;
}

/**
 * How long an answer of repositoryExists() is reused. Docker's pull through registry-mirrors asks it for
 * every request (a manifest and each layer); a push that creates the repository drops the entry at once
 * (forget()), so this bounds only how late a repository removed by garbage collection is noticed.
 */
const EXISTS_TTL_MS = 5_000;
const EXISTS_ENTRIES = 10_000;

export class MirrorRouter {
  private readonly deps: MirrorRouterDeps;
  private readonly exists = new Map<string, { value: boolean; at: number }>();

  constructor(deps: MirrorRouterDeps) {
    this.deps = deps;
  }

  /**
   * The cache target of a request on repository `name`, or null when it is local. `ns` is containerd's
   * hint; `write` is any method that changes the repository (refused in a cache namespace).
   */
  async route(name: string, ns: string | undefined, write: boolean): Promise<MirrorTarget | null> {
    const upstreams = this.deps.upstreams();
    if (upstreams.size === 0) return null;
    const owner = upstreams.namespaceOf(name);
    const hinted = ns ? upstreams.byHost(ns) : undefined;
    if (write) {
      if (owner) {
        throw new RegistryError('DENIED', {
          message: `${name} is in the pull-through cache of ${owner.name}, which is read-only: push to a name outside ${owner.name}/`,
          detail: { name, upstream: owner.name },
        });
      }
      if (hinted) {
        throw new RegistryError('DENIED', {
          message: `this registry mirrors ${hinted.name} for pulls only; push to it by its own name (without ns=${ns})`,
          detail: { name, upstream: hinted.name },
        });
      }
      return null;
    }
    if (owner) return targetFor(owner, name.slice(name.indexOf('/') + 1));
    const upstream = ns !== undefined ? hinted : upstreams.default();
    if (!upstream) return null;
    // Docker Hub's namespaces are plain words: a first component with a dot names another registry,
    // which the default upstream cannot serve.
    if (ns === undefined && isDockerHub(upstream) && name.split('/', 1)[0]!.includes('.')) return null;
    if (await this.localExists(name)) return null;
    return targetFor(upstream, name);
  }

  /** Drops what is known of a repository (it was just pushed to, or deleted). */
  forget(name: string): void {
    this.exists.delete(name);
  }

  private async localExists(name: string): Promise<boolean> {
    const now = this.deps.now();
    const known = this.exists.get(name);
    if (known && now - known.at < EXISTS_TTL_MS) return known.value;
    const value = await this.deps.repositoryExists(name);
    if (this.exists.size >= EXISTS_ENTRIES) this.exists.clear();
    this.exists.set(name, { value, at: now });
    return value;
  }
}
