/** `berth files REF`: the merged file system of an image (registry/inspect.ts). */
import type { ImageLayerView } from '../registry/inspect-types.ts';
import type { FsNode, ResolvedImage } from '../registry/inspect-types.ts';
import { parseOptions, UsageError, type Command } from './common.ts';
import { INSPECT_OPTIONS, INSPECT_OPTIONS_USAGE, checkPlatform, modeString, onServerOrLocally, parseRef, query } from './inspect-common.ts';
import { maintenanceConfig } from './maintenance.ts';

interface AllFiles {
  image: ResolvedImage;
  layers: ImageLayerView[];
  nodes: FsNode[];
}

export const filesCommand: Command = {
  summary: "List an image's files: its layers applied in order, with whiteouts",
  usage: `Usage: berth files REF [options]

Lists the image's file system as a container sees it: every layer applied bottom-up, whiteouts and
opaque directories honoured (OCI image-spec layer.md). One line per path:
  MODE UID:GID SIZE LAYER /PATH [-> LINK TARGET]
LAYER is the index of the layer that wrote the path last. Layers that cannot be read are named on
stderr and left out; the exit code is then 1.

${INSPECT_OPTIONS_USAGE}
`,
  async run(args) {
    const { values, positionals } = parseOptions(args, INSPECT_OPTIONS, true);
    if (positionals.length !== 1) throw new UsageError('berth files takes one image reference: berth files REPOSITORY:TAG');
    checkPlatform(values.platform);
    const { repo, reference } = parseRef(positionals[0]!);
    const config = await maintenanceConfig(values);
    const result = await onServerOrLocally<AllFiles>(
      config,
      (server) => server.call<AllFiles>('GET', `/api/repositories/${repo}/-/manifests/${encodeURIComponent(reference)}/files${query({ all: '1', platform: values.platform })}`),
      (registry) => registry.manage.inspect.allFiles(repo, reference, values.platform),
    );
    const problems = result.layers.filter((l) => l.problem);
    if (values.json) {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    } else {
      const lines = result.nodes.map((n) => {
        const link = n.linkTarget !== undefined ? ` -> ${n.type === 'hardlink' ? '/' : ''}${n.linkTarget}` : '';
        return `${modeString(n.type, n.mode)} ${`${n.uid}:${n.gid}`.padEnd(11)} ${String(n.type === 'dir' ? 0 : n.size).padStart(12)} ${String(n.layer).padStart(3)} /${n.path}${link}`;
      });
      process.stdout.write(lines.length ? `${lines.join('\n')}\n` : '');
    }
    for (const l of problems) process.stderr.write(`berth: layer ${l.index} (${l.digest}): ${l.problem!.message}\n`);
    return problems.length > 0 ? 1 : 0;
  },
};
