/**
 * What changed between two images: their configs (what `docker inspect` shows: env, entrypoint, cmd,
 * labels, ports, user, working dir, volumes, platform), their layers (shared by digest or not) and
 * their merged file systems (added, removed, changed by content, type, link, mode or owner; mtimes
 * only when asked: a rebuild touches every timestamp without changing anything). Pure.
 */
import type { ImageConfigView } from '../api-types.ts';
import type { ChangeKind, ConfigChange, FsChange, FsNode, ImageDiff } from '../inspect-types.ts';
import { walkInSlices, type MergedFs } from './filesystem.ts';

function attrs(n: FsNode): NonNullable<FsChange['before']> {
  return { type: n.type, mode: n.mode, uid: n.uid, gid: n.gid, size: n.size, ...(n.linkTarget !== undefined ? { linkTarget: n.linkTarget } : {}) };
}

export async function diffFileSystems(from: MergedFs, to: MergedFs, timestamps: boolean): Promise<ImageDiff['files']> {
  const before = new Map<string, FsNode>();
  for await (const node of walkInSlices(from)) before.set(node.path, node);
  const added: FsChange[] = [];
  const changed: FsChange[] = [];
  for await (const node of walkInSlices(to)) {
    const old = before.get(node.path);
    before.delete(node.path);
    const fileSize = node.type === 'dir' ? 0 : node.size;
    if (!old) {
      added.push({ path: node.path, type: node.type, size: fileSize, sizeDelta: fileSize, after: attrs(node) });
      continue;
    }
    const kinds: ChangeKind[] = [];
    if (old.type !== node.type) kinds.push('type');
    else if (node.type === 'file' || node.type === 'hardlink') {
      if (old.size !== node.size || (old.sha256 !== undefined && node.sha256 !== undefined && old.sha256 !== node.sha256)) kinds.push('content');
    }
    if (old.type === node.type && (old.linkTarget ?? '') !== (node.linkTarget ?? '')) kinds.push('link');
    if (old.mode !== node.mode) kinds.push('mode');
    if (old.uid !== node.uid || old.gid !== node.gid) kinds.push('owner');
    if (timestamps && old.mtime !== node.mtime && node.type !== 'dir') kinds.push('mtime');
    if (kinds.length === 0) continue;
    const oldSize = old.type === 'dir' ? 0 : old.size;
    changed.push({ path: node.path, type: node.type, size: fileSize, sizeDelta: fileSize - oldSize, changes: kinds, before: attrs(old), after: attrs(node) });
  }
  const removed: FsChange[] = [...before.values()].map((old) => {
    const size = old.type === 'dir' ? 0 : old.size;
    return { path: old.path, type: old.type, size, sizeDelta: -size, before: attrs(old) };
  });
  return { added, removed, changed };
}

type ImageConfigViewLike = Pick<ImageConfigView, 'os' | 'architecture' | 'variant' | 'user' | 'workingDir' | 'entrypoint' | 'cmd' | 'env' | 'labels' | 'exposedPorts' | 'volumes' | 'stopSignal'>;

function show(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (Array.isArray(value)) return value.length === 0 ? null : JSON.stringify(value);
  return String(value);
}

/** "KEY=VALUE" lists as a map (the first "=" splits). */
function envMap(env: readonly string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of env) {
    const at = line.indexOf('=');
    if (at < 0) map.set(line, '');
    else map.set(line.slice(0, at), line.slice(at + 1));
  }
  return map;
}

function mapChanges(prefix: string, a: Map<string, string>, b: Map<string, string>, out: ConfigChange[]): void {
  const keys = [...new Set([...a.keys(), ...b.keys()])].sort();
  for (const key of keys) {
    const x = a.get(key) ?? null;
    const y = b.get(key) ?? null;
    if (x !== y) out.push({ field: `${prefix}.${key}`, before: x, after: y });
  }
}

function setChanges(field: string, a: readonly string[], b: readonly string[], out: ConfigChange[]): void {
  const x = new Set(a);
  const y = new Set(b);
  for (const v of [...x].filter((v) => !y.has(v)).sort()) out.push({ field, before: v, after: null });
  for (const v of [...y].filter((v) => !x.has(v)).sort()) out.push({ field, before: null, after: v });
}

export function diffConfigs(a: ImageConfigViewLike | null, b: ImageConfigViewLike | null): ConfigChange[] {
  const out: ConfigChange[] = [];
  const x = a ?? emptyConfig();
  const y = b ?? emptyConfig();
  const scalar = (field: string, u: unknown, v: unknown) => {
    const before = show(u);
    const after = show(v);
    if (before !== after) out.push({ field, before, after });
  };
  scalar('platform', [x.os, x.architecture, x.variant].filter(Boolean).join('/') || null, [y.os, y.architecture, y.variant].filter(Boolean).join('/') || null);
  scalar('user', x.user, y.user);
  scalar('workingDir', x.workingDir, y.workingDir);
  scalar('entrypoint', x.entrypoint, y.entrypoint);
  scalar('cmd', x.cmd, y.cmd);
  scalar('stopSignal', x.stopSignal, y.stopSignal);
  mapChanges('env', envMap(x.env), envMap(y.env), out);
  mapChanges('labels', new Map(Object.entries(x.labels)), new Map(Object.entries(y.labels)), out);
  setChanges('exposedPorts', x.exposedPorts, y.exposedPorts, out);
  setChanges('volumes', x.volumes, y.volumes, out);
  return out;
}

function emptyConfig(): ImageConfigViewLike {
  return { os: null, architecture: null, variant: null, user: null, workingDir: null, entrypoint: null, cmd: null, env: [], labels: {}, exposedPorts: [], volumes: [], stopSignal: null };
}
