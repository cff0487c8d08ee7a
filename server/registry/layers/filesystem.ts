/**
 * The image's file system: its layers' listings applied bottom-up as image-spec layer.md "Applying
 * Changesets" says. Pure: listings in, a tree out.
 *
 * Per layer, first its whiteouts (they apply to lower layers only, "regardless of the ordering in
 * which the whiteout file was encountered"): an opaque marker ".wh..wh..opq" hides every child of its
 * directory from the lower layers (all descendants), ".wh.<name>" hides <name>; then its entries in
 * archive order: a directory over a directory replaces the attributes only ("Changeset over existing
 * files"), anything else replaces the path (and, for a directory replaced by a non-directory, all
 * below it). Parents a layer leaves out are created as 0755 root directories, as tar extractors do.
 *
 * Along the way it records what lower layers shipped that nobody can see: files overwritten or
 * deleted by a later layer ("wasted" bytes, what dive calls inefficiency).
 */
import type { FsNode, LayerEntry, MergedAttributes, WastedPath } from '../inspect-types.ts';

type NodeType = FsNode['type'];

export interface TreeNode extends MergedAttributes {
  /** Directories only. */
  children?: Map<string, TreeNode>;
}

export interface MergedFs {
  root: TreeNode;
  layers: number;
  totals: { files: number; directories: number; bytes: number };
  wasted: { bytes: number; files: number; paths: WastedPath[] };
}

function dirNode(name: string, layer: number): TreeNode {
  return { name, type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0, layer, changed: false, children: new Map() };
}

function split(path: string): string[] {
  return path === '' ? [] : path.split('/');
}

export class FsBuilder {
  readonly root = dirNode('', 0);
  private readonly wastedByPath = new Map<string, WastedPath>();
  private layerCount = 0;

  /** The node at `path`, or undefined. */
  lookup(path: string): TreeNode | undefined {
    let node: TreeNode | undefined = this.root;
    for (const part of split(path)) {
      node = node?.children?.get(part);
      if (!node) return undefined;
    }
    return node;
  }

  /** The directory that holds `path`, made (as 0755 root dirs) where missing or not a directory. */
  private parentOf(path: string, layer: number): TreeNode {
    const parts = split(path);
    parts.pop();
    let node = this.root;
    let at = '';
    for (const part of parts) {
      at = at ? `${at}/${part}` : part;
      let child = node.children!.get(part);
      if (!child || child.type !== 'dir') {
        if (child) this.hide(at, child, 'overwritten', layer);
        child = dirNode(part, layer);
        node.children!.set(part, child);
      }
      node = child;
    }
    return node;
  }

  /** Records the regular-file bytes under `node` (at `path`) as hidden by a later layer. */
  private hide(path: string, node: TreeNode, how: WastedPath['how'], byLayer: number): void {
    if (node.layer >= byLayer) return; // the same layer's own entries are not hidden by its whiteouts
    const visit = (n: TreeNode, p: string) => {
      if (n.type === 'file' && n.size > 0 && n.layer < byLayer) {
        const known = this.wastedByPath.get(p);
        if (known) {
          known.bytes += n.size;
          if (!known.layers.includes(n.layer)) known.layers.push(n.layer);
        } else {
          this.wastedByPath.set(p, { path: p, bytes: n.size, layers: [n.layer], how });
        }
      }
      for (const [name, child] of n.children ?? []) visit(child, `${p}/${name}`);
    };
    visit(node, path);
  }

  /**
   * The next layer's number. Apply its whiteouts and opaque markers (remove) before its other entries
   * (add): a layer is applied in these two passes, each in archive order.
   */
  startLayer(): number {
    return this.layerCount++;
  }

  /** A whiteout or opaque marker of `layer`: hides what lower layers put there. Other entries: nothing. */
  remove(e: LayerEntry, layer: number): void {
    if (e.type === 'opaque') {
      const dir = this.lookup(e.path);
      if (dir?.children) {
        for (const [name, child] of [...dir.children]) {
          if (child.layer < layer) {
            this.hide(e.path ? `${e.path}/${name}` : name, child, 'deleted', layer);
            dir.children.delete(name);
          }
        }
      }
    } else if (e.type === 'whiteout') {
      const parts = split(e.path);
      const name = parts.pop()!;
      const parent = this.lookup(parts.join('/'));
      const victim = parent?.children?.get(name);
      if (victim && victim.layer < layer) {
        this.hide(e.path, victim, 'deleted', layer);
        parent!.children!.delete(name);
      }
    }
  }

  /** All of a layer's entries at once (pure callers; the service streams them through remove/add). */
  apply(listing: { entries: readonly LayerEntry[] }): void {
    const layer = this.startLayer();
    for (const e of listing.entries) this.remove(e, layer);
    for (const e of listing.entries) this.add(e, layer);
  }

  /** An entry of `layer` other than a whiteout or opaque marker (those are skipped). */
  add(e: LayerEntry, layer: number): void {
    if (e.type === 'whiteout' || e.type === 'opaque') return;
    const parent = this.parentOf(e.path, layer);
    const name = e.path.slice(e.path.lastIndexOf('/') + 1);
    const existing = parent.children!.get(name);
    const node: TreeNode = {
      name,
      type: e.type as NodeType,
      mode: e.mode,
      uid: e.uid,
      gid: e.gid,
      size: e.type === 'file' ? e.size : 0,
      mtime: e.mtime,
      layer,
      changed: existing !== undefined && existing.layer < layer,
      ...(e.linkTarget !== undefined ? { linkTarget: e.linkTarget } : {}),
      ...(e.sha256 !== undefined ? { sha256: e.sha256 } : {}),
    };
    if (existing && existing.changed && existing.layer === layer) node.changed = true;
    if (e.type === 'hardlink') {
      // A hard link is another name for its target's inode (in this layer or a lower one): the same
      // bytes, mode and owner, whatever the link's own tar header says.
      const target = this.lookup(e.linkTarget!);
      if (target && target.type === 'file') {
        node.size = target.size;
        node.mode = target.mode;
        node.uid = target.uid;
        node.gid = target.gid;
        if (target.sha256) node.sha256 = target.sha256;
      }
    }
    if (existing) {
      if (existing.type === 'dir' && e.type === 'dir') {
        node.children = existing.children!;
      } else {
        this.hide(e.path, existing, 'overwritten', layer);
      }
    }
    if (e.type === 'dir' && !node.children) node.children = new Map();
    parent.children!.set(name, node);
  }

  /** The tree with directory sizes and totals, and the wasted space, in one go. */
  finish(): MergedFs {
    const steps = this.finishing();
    for (let step = steps.next(); ; step = steps.next()) if (step.done) return step.value;
  }

  /** finish(), giving the event loop a turn every SLICE_MS (a tree of 100k paths takes ~100 ms). */
  async finishAsync(): Promise<MergedFs> {
    const steps = this.finishing();
    for (let step = steps.next(); ; step = steps.next()) {
      if (step.done) return step.value;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** Sums sizes bottom-up (an explicit stack: trees can be deeper than the call stack), yielding now and then. */
  private *finishing(): Generator<void, MergedFs> {
    const totals = { files: 0, directories: 0, bytes: 0 };
    let sliceStart = performance.now();
    let visited = 0;
    const stack: { node: TreeNode; children: Iterator<TreeNode> | null }[] = [{ node: this.root, children: null }];
    this.root.size = 0;
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (top.children === null) {
        top.children = top.node.children!.values();
        totals.directories++;
        top.node.size = 0;
      }
      const next = top.children.next();
      if (next.done) {
        stack.pop();
        if (stack.length > 0) stack[stack.length - 1]!.node.size += top.node.size;
        continue;
      }
      const child = next.value;
      if (++visited % 1024 === 0 && performance.now() - sliceStart > SLICE_MS) {
        yield;
        sliceStart = performance.now();
      }
      if (child.type === 'dir') {
        stack.push({ node: child, children: null });
      } else if (child.type === 'file') {
        totals.files++;
        totals.bytes += child.size;
        top.node.size += child.size;
      }
    }
    totals.directories -= 1; // the root
    const paths = [...this.wastedByPath.values()].sort((a, b) => b.bytes - a.bytes || (a.path < b.path ? -1 : 1));
    return {
      root: this.root,
      layers: this.layerCount,
      totals,
      wasted: { bytes: paths.reduce((s, p) => s + p.bytes, 0), files: paths.length, paths },
    };
  }
}

/** How long finishAsync() works before giving the event loop a turn. */
const SLICE_MS = 10;

/** A layer's entries as they are read from its stored listing, and how many whiteouts it has. */
export interface LayerSource {
  whiteouts: number;
  entries(): AsyncIterable<LayerEntry>;
}

/**
 * Merges layers read a line at a time: the caller's thread works in short slices (between reads)
 * rather than one long stall, and no listing is held, only the tree. A layer without whiteouts is
 * read once, others twice (whiteouts first). null: a layer that could not be read (it keeps its
 * number, adds nothing); a layer failing half-way keeps what was applied and is reported to `failed`.
 */
export async function mergeLayerSources(sources: readonly (LayerSource | null)[], failed: (index: number, err: unknown) => void): Promise<MergedFs> {
  const builder = new FsBuilder();
  for (const [i, source] of sources.entries()) {
    const layer = builder.startLayer();
    if (!source) continue;
    try {
      if (source.whiteouts > 0) for await (const e of source.entries()) builder.remove(e, layer);
      for await (const e of source.entries()) builder.add(e, layer);
    } catch (err) {
      failed(i, err);
    }
  }
  return builder.finishAsync();
}

export function mergeLayers(listings: readonly { entries: readonly LayerEntry[] }[]): MergedFs {
  const builder = new FsBuilder();
  for (const listing of listings) builder.apply(listing);
  return builder.finish();
}

export function lookup(fs: MergedFs, path: string): TreeNode | undefined {
  let node: TreeNode | undefined = fs.root;
  for (const part of split(path)) {
    node = node?.children?.get(part);
    if (!node) return undefined;
  }
  return node;
}

export function toFsNode(node: TreeNode, path: string): FsNode {
  const out: FsNode = {
    path,
    name: node.name,
    type: node.type,
    mode: node.mode,
    uid: node.uid,
    gid: node.gid,
    size: node.size,
    mtime: node.mtime,
    layer: node.layer,
    changed: node.changed,
  };
  if (node.linkTarget !== undefined) out.linkTarget = node.linkTarget;
  if (node.sha256 !== undefined) out.sha256 = node.sha256;
  if (node.children) out.children = node.children.size;
  return out;
}

/** Children of a directory: directories first, then by name. */
export function childrenOf(node: TreeNode, path: string): FsNode[] {
  const list = [...(node.children?.values() ?? [])].map((child) => toFsNode(child, path ? `${path}/${child.name}` : child.name));
  return list.sort((a, b) => (a.type === 'dir') === (b.type === 'dir') ? (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) : a.type === 'dir' ? -1 : 1);
}

/** Every path, depth first in name order (the root left out). */
export function* walk(fs: MergedFs): Generator<FsNode> {
  function* visit(node: TreeNode, path: string): Generator<FsNode> {
    const names = [...(node.children?.keys() ?? [])].sort();
    for (const name of names) {
      const child = node.children!.get(name)!;
      const childPath = path ? `${path}/${name}` : name;
      yield toFsNode(child, childPath);
      if (child.children) yield* visit(child, childPath);
    }
  }
  yield* visit(fs.root, '');
}

/**
 * walk(), giving the event loop a turn every SLICE_MS: a full walk of a 100k-path tree takes 60-100 ms
 * (bench/merged-tree.ts), too long to hold the registry's thread for a search or a diff.
 */
export async function* walkInSlices(fs: MergedFs): AsyncGenerator<FsNode> {
  let sliceStart = performance.now();
  let visited = 0;
  for (const node of walk(fs)) {
    yield node;
    if (++visited % 512 === 0 && performance.now() - sliceStart > SLICE_MS) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      sliceStart = performance.now();
    }
  }
}
