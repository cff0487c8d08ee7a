/** `berth purge-uploads`: remove idle upload sessions (registry/purge-uploads.ts). */
import { ConfigError, parseDuration } from '../config.ts';
import type { PurgeReport } from '../registry/purge-uploads.ts';
import { UsageError, parseOptions, type Command } from './common.ts';
import { MAINTENANCE_OPTIONS, MAINTENANCE_OPTIONS_USAGE, WHERE_IT_RUNS, bytes, count, duration, maintenanceConfig, report, runMaintenance, seconds, where } from './maintenance.ts';

export const purgeUploadsCommand: Command = {
  summary: 'Remove upload sessions idle for longer than a given age (default 24h)',
  usage: `Usage: berth purge-uploads [--older-than DURATION] [--dry-run] [options]

Removes upload sessions that received no bytes for longer than the age, with their data. A session
receiving bytes right now is never removed.

  --older-than DURATION  idle age: 30m, 24h, 7d, or 0 for every idle session (default: the
                         uploadPurgeAge setting, 24h)
  --dry-run              list what would be removed, remove nothing
${MAINTENANCE_OPTIONS_USAGE}

${WHERE_IT_RUNS}
`,
  async run(args) {
    const { values } = parseOptions(args, { ...MAINTENANCE_OPTIONS, 'older-than': { type: 'string' }, 'dry-run': { type: 'boolean' } });
    const config = await maintenanceConfig(values);
    let olderThanMs = config.uploadPurgeAgeMs;
    if (values['older-than'] !== undefined) {
      try {
        olderThanMs = parseDuration(values['older-than'], '--older-than');
      } catch (err) {
        throw err instanceof ConfigError ? new UsageError(err.message) : err;
      }
    }
    const dryRun = values['dry-run'] === true;
    const body = { dryRun, ...(values['older-than'] !== undefined ? { olderThan: values['older-than'] } : {}) };
    const outcome = await runMaintenance(config, { kind: 'purge-uploads', options: { dryRun, olderThanSeconds: olderThanMs / 1000 } }, '/api/uploads/purge', body);
    return report(outcome, values.json === true, (run) => {
      const r = run.result as PurgeReport;
      const verb = r.dryRun ? 'would remove' : 'removed';
      return `Upload purge: ${verb} ${count(r.removed.length, 'session')} idle for more than ${duration(r.olderThanSeconds * 1000)} (${bytes(r.bytesFreed)}); ${r.kept} kept; took ${seconds(run.durationMs)} ${where(outcome, config.dataDir)}\n`;
    });
  },
};
