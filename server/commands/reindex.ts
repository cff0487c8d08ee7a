/** `berth reindex`: rebuild the metadata index from the files on disk (registry/reindex.ts). */
import type { RebuildStats } from '../registry/reindex.ts';
import { parseOptions, type Command } from './common.ts';
import { MAINTENANCE_OPTIONS, MAINTENANCE_OPTIONS_USAGE, WHERE_IT_RUNS, count, maintenanceConfig, report, runMaintenance, seconds, where } from './maintenance.ts';

export const reindexCommand: Command = {
  summary: 'Rebuild the metadata index (listings, UI) from the files on disk',
  usage: `Usage: berth reindex [options]

The index behind listings and the UI is derived from the files on disk; this rebuilds it from them.

${MAINTENANCE_OPTIONS_USAGE}

${WHERE_IT_RUNS}
`,
  async run(args) {
    const { values } = parseOptions(args, MAINTENANCE_OPTIONS);
    const config = await maintenanceConfig(values);
    const outcome = await runMaintenance(config, { kind: 'reindex', options: {} }, '/api/reindex', {});
    return report(outcome, values.json === true, (run) => {
      const r = run.result as RebuildStats;
      const skipped = r.skipped > 0 ? `; ${count(r.skipped, 'entry', 'entries')} skipped (run "berth scrub")` : '';
      return `Index rebuilt: ${count(r.repositories, 'repository', 'repositories')}, ${count(r.manifests, 'manifest')}, ${count(r.tags, 'tag')} in ${seconds(run.durationMs)}${skipped} ${where(outcome, config.dataDir)}\n`;
    });
  },
};
