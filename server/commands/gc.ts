/** `berth gc`: garbage collection (registry/gc.ts), on a running server or on the directory. */
import { ConfigError, parseDuration } from '../config.ts';
import type { GcReport } from '../registry/gc.ts';
import { UsageError, parseOptions, type Command } from './common.ts';
import { MAINTENANCE_OPTIONS, MAINTENANCE_OPTIONS_USAGE, WHERE_IT_RUNS, bytes, count, duration, maintenanceConfig, report, runMaintenance, seconds, where } from './maintenance.ts';

export const gcCommand: Command = {
  summary: 'Free the space of blobs and manifests nothing references (garbage collection)',
  usage: `Usage: berth gc [--dry-run] [--untagged] [--grace DURATION] [options]

Removes blobs no tag or kept manifest references, unused layer links, and with --untagged the
manifests no tag reaches (never a child of a tagged multi-arch index, nor a referrer of a kept
manifest). Safe while pushes run: anything written within the grace window is kept.

  --dry-run          report what would be removed and how many bytes, remove nothing
  --untagged         also remove untagged manifests (default: the gcUntagged setting, off)
  --grace DURATION   keep anything younger than this: 30m, 1h, 2d, or 0 for nothing (default: the
                     gcGrace setting, 1h)
${MAINTENANCE_OPTIONS_USAGE}

${WHERE_IT_RUNS}
`,
  async run(args) {
    const { values } = parseOptions(args, {
      ...MAINTENANCE_OPTIONS,
      'dry-run': { type: 'boolean' },
      untagged: { type: 'boolean' },
      grace: { type: 'string' },
    });
    const config = await maintenanceConfig(values);
    let graceMs = config.gcGraceMs;
    if (values.grace !== undefined) {
      try {
        graceMs = parseDuration(values.grace, '--grace');
      } catch (err) {
        throw err instanceof ConfigError ? new UsageError(err.message) : err;
      }
    }
    const dryRun = values['dry-run'] === true;
    const untagged = values.untagged === true || config.gcUntagged;
    const body: Record<string, unknown> = { dryRun, ...(values.untagged ? { untagged: true } : {}), ...(values.grace !== undefined ? { grace: values.grace } : {}) };
    const outcome = await runMaintenance(config, { kind: 'gc', options: { dryRun, untagged, graceSeconds: graceMs / 1000 } }, '/api/gc', body);
    return report(outcome, values.json === true, (run) => {
      const r = run.result as GcReport;
      const lines = [
        r.dryRun
          ? `Garbage collection (dry run): would free ${bytes(r.bytesFreed)} ${where(outcome, config.dataDir)}`
          : `Garbage collection: freed ${bytes(r.bytesFreed)} in ${seconds(run.durationMs)} ${where(outcome, config.dataDir)}`,
        `  blobs deleted:        ${count(r.counts.blobs, 'blob')} (${bytes(r.bytesFreed)})`,
        `  untagged manifests:   ${r.untagged ? count(r.counts.manifests, 'manifest') : 'kept (use --untagged to remove them)'}`,
        `  unused layer links:   ${r.counts.layerLinks}`,
        `  empty repositories:   ${r.counts.repositories}${r.removed.repositories.length ? ` (${r.removed.repositories.slice(0, 5).join(', ')}${r.counts.repositories > 5 ? ', ...' : ''})` : ''}`,
        `  kept:                 ${count(r.kept.blobs, 'blob')} (${bytes(r.kept.bytes)}) in use; ${count(r.protected.blobs, 'blob')} (${bytes(r.protected.bytes)}) ${r.graceSeconds > 0 ? `younger than the ${duration(r.graceSeconds * 1000)} grace window or in use by a push` : 'in use by a push (no grace window)'}`,
      ];
      if (r.skipped.length > 0) lines.push(`  skipped:              ${count(r.skipped.length, 'item')} that pushes used during the collection`);
      for (const warning of r.warnings) lines.push(`  warning: ${warning}`);
      lines.push(r.dryRun ? `Took ${seconds(run.durationMs)}. Run without --dry-run to free the space.` : `Took ${seconds(run.durationMs)}.`);
      return `${lines.join('\n')}\n`;
    });
  },
};
