/** `berth scrub`: integrity scrub (registry/scrub.ts); exits 1 when it finds a problem. */
import type { ScrubReport } from '../registry/scrub.ts';
import { parseOptions, type Command } from './common.ts';
import { MAINTENANCE_OPTIONS, MAINTENANCE_OPTIONS_USAGE, WHERE_IT_RUNS, bytes, count, maintenanceConfig, report, runMaintenance, seconds, where } from './maintenance.ts';

export const scrubCommand: Command = {
  summary: 'Re-hash every blob and manifest; quarantine corrupt files, report missing content',
  usage: `Usage: berth scrub [options]

Re-hashes every blob and manifest; a file whose bytes do not match its digest is moved to
<data>/quarantine/ (push the image again to restore it). Also checks that every tag, manifest and link
points to content that is there. Exits 0 when everything is intact, 1 when it found a problem.

${MAINTENANCE_OPTIONS_USAGE}

${WHERE_IT_RUNS}
`,
  async run(args) {
    const { values } = parseOptions(args, MAINTENANCE_OPTIONS);
    const config = await maintenanceConfig(values);
    const outcome = await runMaintenance(config, { kind: 'scrub', options: {} }, '/api/scrub', {});
    const code = report(outcome, values.json === true, (run) => {
      const r = run.result as ScrubReport;
      const checked = `${count(r.checked.blobs, 'blob')} (${bytes(r.checked.bytes)}), ${count(r.checked.repositories, 'repository', 'repositories')}, ${count(r.checked.manifests, 'manifest')}, ${count(r.checked.tags, 'tag')}`;
      const lines = [`Scrub: checked ${checked} in ${seconds(run.durationMs)} ${where(outcome, config.dataDir)}`];
      if (r.clean) {
        lines.push('Everything is intact.');
      } else {
        for (const c of r.corrupt) {
          const users = c.usedBy.map((u) => u.repository).join(', ') || 'nothing';
          lines.push(`  corrupt: ${c.digest} (${bytes(c.size)}, bytes hash to ${c.actual}); used by ${users}; moved to ${c.quarantinedTo ?? '(already gone)'}`);
        }
        for (const m of r.missing) lines.push(`  missing: ${m.repository} ${m.reference}: ${m.problem} (${m.digest})`);
        lines.push(`Found ${count(r.corrupt.length, 'corrupt file')} and ${count(r.missing.length, 'missing reference')}. Push the affected images again to restore them.`);
      }
      return `${lines.join('\n')}\n`;
    });
    return code === 0 && !(outcome.run.result as ScrubReport).clean ? 1 : code;
  },
};
