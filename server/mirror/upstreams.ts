/**
 * The upstreams of the pull-through cache and how a request names one. Clients ask a mirror three ways
 * (../shared/REGISTRY-NOTES.md "Mirrors"):
 *   - Docker's `registry-mirrors`: `/v2/library/alpine/...` and nothing naming the upstream: the default
 *     upstream (the one called docker.io, else the first) is meant;
 *   - containerd's hosts.toml: the same path plus `?ns=docker.io` (the registry host the image names);
 *   - podman/buildah/skopeo's `[[registry.mirror]] location = "host:port/docker.io"`: a path prefix.
 * Cached content is stored as ordinary repository content under the upstream's name
 * (docker.io/library/alpine), so it is also pullable directly by that name. Docker Hub's one-segment
 * names mean library/NAME. Only configured upstreams are ever contacted: a host no upstream answers to
 * is served from local content only (never an open proxy).
 */
import { DOCKER_HUB_HOSTS, type MirrorConfig } from '../config.ts';
import { isValidName } from '../registry/reference.ts';

/** Where an upstream's settings come from: the config file/environment/flags (read-only in the UI) or the UI. */
export type UpstreamSource = 'config' | 'ui';

export interface Upstream extends MirrorConfig {
  source: UpstreamSource;
}

/** A request routed to the cache: which upstream, its name for the image there, and the cache repository here. */
export interface MirrorTarget {
  upstream: Upstream;
  /** The repository at the upstream (library/alpine). */
  remote: string;
  /** The repository here that caches it (docker.io/library/alpine). */
  cache: string;
}

export function isDockerHub(upstream: Pick<MirrorConfig, 'name' | 'aliases' | 'url'>): boolean {
  const hosts = [upstream.name, ...upstream.aliases, new URL(upstream.url).host];
  return hosts.some((h) => (DOCKER_HUB_HOSTS as readonly string[]).includes(h));
}

/** The set of upstreams in effect, with the lookups routing needs. */
export class UpstreamSet {
  readonly list: readonly Upstream[];
  private readonly byHostName = new Map<string, Upstream>();

  constructor(list: readonly Upstream[]) {
    this.list = list;
    for (const upstream of list) {
      for (const host of [upstream.name, ...upstream.aliases]) this.byHostName.set(host.toLowerCase(), upstream);
    }
  }

  get size(): number {
    return this.list.length;
  }

  named(name: string): Upstream | undefined {
    return this.list.find((u) => u.name === name);
  }

  /**
   * The upstream a host name means (containerd's ns: "docker.io", "registry.example:5001"); an
   * explicit default HTTPS port is the same host.
   */
  byHost(host: string): Upstream | undefined {
    const lower = host.toLowerCase();
    return this.byHostName.get(lower) ?? this.byHostName.get(lower.replace(/:443$/, ''));
  }

  /** The upstream whose cache namespace a repository name is in (its first component), if any. */
  namespaceOf(repository: string): Upstream | undefined {
    const slash = repository.indexOf('/');
    return slash > 0 ? this.byHostName.get(repository.slice(0, slash)) : undefined;
  }

  /** Docker's registry-mirrors requests name no upstream: the one marked default, docker.io, or the first. */
  default(): Upstream | undefined {
    return this.list.find((u) => u.default) ?? this.list.find((u) => isDockerHub(u)) ?? this.list[0];
  }
}

/**
 * The target for `name` at `upstream`: Docker Hub's one-segment names mean library/NAME (Docker itself
 * adds it; other clients may not). Null when the cache name would not be a valid repository name.
 */
export function targetFor(upstream: Upstream, name: string): MirrorTarget | null {
  const remote = isDockerHub(upstream) && !name.includes('/') ? `library/${name}` : name;
  const cache = `${upstream.name}/${remote}`;
  return isValidName(cache) ? { upstream, remote, cache } : null;
}
