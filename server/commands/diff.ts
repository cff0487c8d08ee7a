/** `berth diff REF REF`: what changed from one image to another (registry/layers/image-diff.ts). */
import type { FsChange, ImageDiff } from '../registry/inspect-types.ts';
import { parseOptions, UsageError, type Command } from './common.ts';
import { INSPECT_OPTIONS, INSPECT_OPTIONS_USAGE, checkPlatform, onServerOrLocally, parseRef, query } from './inspect-common.ts';
import { bytes, maintenanceConfig } from './maintenance.ts';

const OPTIONS = { ...INSPECT_OPTIONS, timestamps: { type: 'boolean' } } as const;

function signed(n: number): string {
  return n === 0 ? '0 B' : `${n > 0 ? '+' : '-'}${bytes(Math.abs(n))}`;
}

function line(mark: string, c: FsChange): string {
  const what = c.changes ? ` [${c.changes.join(', ')}]` : '';
  const size = c.type === 'dir' ? '' : ` (${c.changes ? signed(c.sizeDelta) : bytes(c.size)})`;
  return `  ${mark} /${c.path}${c.type === 'dir' ? '/' : ''}${what}${size}`;
}

export const diffCommand: Command = {
  summary: 'Show what changed between two images: config, layers, files',
  usage: `Usage: berth diff REF REF [options]

Compares two images (also of different repositories or platforms): their configs (env, entrypoint,
cmd, labels, ports, user, working dir, volumes), which layers they share, and their file systems:
  + added, - removed, ~ changed [content, type, link, mode, owner], with the size change.
Timestamps are ignored unless --timestamps is given.

  --timestamps       also report files whose modification time changed
${INSPECT_OPTIONS_USAGE}
`,
  async run(args) {
    const { values, positionals } = parseOptions(args, OPTIONS, true);
    if (positionals.length !== 2) throw new UsageError('berth diff takes two image references: berth diff REPOSITORY:OLD REPOSITORY:NEW');
    checkPlatform(values.platform);
    const from = parseRef(positionals[0]!);
    const to = parseRef(positionals[1]!);
    const config = await maintenanceConfig(values);
    const platform = values.platform;
    const diff = await onServerOrLocally<ImageDiff>(
      config,
      (server) => server.call<ImageDiff>('GET', `/api/diff${query({ from: positionals[0], to: positionals[1], platform, timestamps: values.timestamps ? '1' : undefined })}`),
      (registry) => registry.manage.inspect.diff(
        { ...from, ...(platform ? { platform } : {}) },
        { ...to, ...(platform ? { platform } : {}) },
        { timestamps: values.timestamps === true },
      ),
    );
    if (values.json) {
      process.stdout.write(`${JSON.stringify(diff, null, 2)}\n`);
      return 0;
    }
    const out: string[] = [];
    const name = (r: ImageDiff['from']) => `${r.repository}@${r.digest}${r.platform ? ` (${r.platform})` : ''}`;
    out.push(`--- ${name(diff.from)}`, `+++ ${name(diff.to)}`);
    out.push(diff.config.length === 0 ? 'config: no changes' : 'config:');
    for (const c of diff.config) {
      if (c.before === null) out.push(`  + ${c.field}: ${c.after}`);
      else if (c.after === null) out.push(`  - ${c.field}: ${c.before}`);
      else out.push(`  ~ ${c.field}: ${c.before} -> ${c.after}`);
    }
    out.push(`layers: ${diff.layers.shared.length} shared, ${diff.layers.onlyFrom.length} only in the first, ${diff.layers.onlyTo.length} only in the second`);
    const { added, removed, changed } = diff.files;
    out.push(`files: ${added.length} added, ${removed.length} removed, ${changed.length} changed (${signed(diff.summary.sizeDelta)})`);
    for (const c of added) out.push(line('+', c));
    for (const c of removed) out.push(line('-', c));
    for (const c of changed) out.push(line('~', c));
    process.stdout.write(`${out.join('\n')}\n`);
    return 0;
  },
};
