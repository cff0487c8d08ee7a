/**
 * Retention: rules that untag old tags by themselves (per repository pattern, keep the newest N tags
 * and/or those pushed within D days, and always the tags matching a pattern), a dry run of what they
 * would untag (with an unsaved rule too), and applying them. Untagging frees no bytes by itself: a
 * garbage collection that removes untagged manifests does (Disk usage).
 */
import { useState } from 'react';
import { Link } from 'react-router';
import { CalendarClock, CircleCheck, Info, Pencil, Plus, Scissors, TriangleAlert } from 'lucide-react';
import type { MaintenanceRun, RetentionReport, RetentionRule } from '../../server/registry/api-types.ts';
import { api, runResult, type RetentionRuleFields } from '../api.ts';
import { Digest } from '../components/copy.tsx';
import { DeleteButton } from '../components/delete-button.tsx';
import { ConfirmDialog } from '../components/dialog.tsx';
import { Loaded } from '../components/loaded.tsx';
import { Card, PageHeader } from '../components/page.tsx';
import { PreviewButtons } from '../components/preview-buttons.tsx';
import { draftOf, NEW_RULE, RuleForm, type RuleDraft } from '../components/retention-rule-form.tsx';
import { RunFailure, RunProgress, RunTrigger } from '../components/run-progress.tsx';
import { EmptyState } from '../components/states.tsx';
import { Table } from '../components/table.tsx';
import { Time } from '../components/time.tsx';
import { useToast } from '../components/toast.tsx';
import { formatCount, formatInterval } from '../format.ts';
import { useResource } from '../hooks/use-resource.ts';
import { isFinished, runQueuedOrFinished, useLatestRun } from '../hooks/use-run.ts';
import { imageLink, repositoryLink } from '../links.ts';
import { Figures } from './gc-sections.tsx';

/** "the newest 10 tags or those pushed within 30 days". */
function keeps(rule: Pick<RetentionRule, 'keepLast' | 'keepDays'>): string {
  const parts: string[] = [];
  if (rule.keepLast !== null) parts.push(rule.keepLast === 1 ? 'the newest tag' : `the newest ${rule.keepLast.toLocaleString()} tags`);
  if (rule.keepDays !== null) parts.push(`tags pushed within ${formatCount(rule.keepDays, 'day')}`);
  return parts.join(' or ');
}

function fieldsOfRule(rule: RetentionRule): RetentionRuleFields {
  return { repositories: rule.repositories, keepLast: rule.keepLast, keepDays: rule.keepDays, keepTags: rule.keepTags, enabled: rule.enabled };
}

/** The tags a dry run or an apply untagged. */
function UntagList({ report, testId }: { report: RetentionReport; testId: string }) {
  if (report.untagged.length === 0) return null;
  return (
    <div className="scroll-box">
      <Table testId={testId} caption="Tags to untag" columns={['Repository', 'Tag', 'Digest', 'Pushed']}>
        {report.untagged.map((c) => (
          <tr key={`${c.repository}:${c.tag}`} data-repository={c.repository} data-tag={c.tag}>
            <td>
              <Link to={repositoryLink(c.repository)}>{c.repository}</Link>
            </td>
            <td>
              {report.dryRun ? (
                <Link to={imageLink(c.repository, c.tag)}>
                  <code>{c.tag}</code>
                </Link>
              ) : (
                <code>{c.tag}</code>
              )}
            </td>
            <td>
              <Digest digest={c.digest} />
            </td>
            <td>
              <Time iso={c.pushedAt} />
            </td>
          </tr>
        ))}
      </Table>
    </div>
  );
}

function PreviewResult({ report, draft }: { report: RetentionReport; draft: boolean }) {
  return (
    <div data-testid="retention-preview" data-draft={draft}>
      {draft && (
        <p className="callout warn" role="status">
          <TriangleAlert size={17} aria-hidden />
          <span>This preview includes the rule you are editing, unsaved. Save it to apply it.</span>
        </p>
      )}
      <Figures
        items={[
          { label: 'Would untag', value: report.untagged.length.toLocaleString(), testId: 'retention-untag-count' },
          { label: 'Kept', value: report.kept.toLocaleString() },
          { label: 'Repositories matched', value: report.repositories.toLocaleString() },
          { label: 'Enabled rules', value: report.rules.toLocaleString() },
        ]}
      />
      {report.rules === 0 ? (
        <p className="callout">
          <Info size={17} aria-hidden />
          <span>No enabled rule: nothing would be untagged.</span>
        </p>
      ) : report.untagged.length === 0 ? (
        <p className="callout good">
          <CircleCheck size={17} aria-hidden />
          <span>Nothing to untag: the rules keep every tag of the {formatCount(report.repositories, 'repository', 'repositories')} they match.</span>
        </p>
      ) : null}
      <UntagList report={report} testId="retention-preview-list" />
    </div>
  );
}

function ApplyOutcome({ run }: { run: MaintenanceRun }) {
  const report = runResult(run, 'retention');
  if (!report) return <RunFailure run={run} what="Applying the rules" />;
  return (
    <div data-testid="retention-result">
      <p className="callout good" role="status">
        <CircleCheck size={17} aria-hidden />
        <span>
          {report.untagged.length === 0 ? 'Nothing was untagged' : <>Untagged {formatCount(report.untagged.length, 'tag')}</>} <Time iso={run.finishedAt} /> (started
          by <RunTrigger trigger={run.trigger} />
          ).
          {report.skipped.length > 0 && <> {formatCount(report.skipped.length, 'tag was', 'tags were')} pushed again meanwhile and kept.</>}{' '}
          {report.untagged.length > 0 && (
            <>
              Their manifests stay until a <Link to="/disk-usage#garbage-collection">garbage collection that removes untagged manifests</Link>.
            </>
          )}
        </span>
      </p>
      <UntagList report={report} testId="retention-applied-list" />
    </div>
  );
}

type Editing = { id: string | null; draft: RuleDraft };

export function RetentionPage() {
  const toast = useToast();
  const rules = useResource((signal) => api.retentionRules(signal), []);
  const overview = useResource((signal) => api.maintenance(signal), [], { refreshOn: runQueuedOrFinished(['retention']) });
  const [editing, setEditing] = useState<Editing | null>(null);
  const [deleting, setDeleting] = useState<RetentionRule | null>(null);
  const [preview, setPreview] = useState<{ report: RetentionReport; draft: boolean } | null>(null);
  const [previewing, setPreviewing] = useState(false);
  const [previewError, setPreviewError] = useState<string | null>(null);
  const [confirmApply, setConfirmApply] = useState(false);
  const apply = useLatestRun('retention', overview.data, (run) => {
    if (run.state === 'succeeded') {
      toast('good', `Retention rules applied: ${formatCount(runResult(run, 'retention')?.untagged.length ?? 0, 'tag')} untagged`);
      setPreview(null);
    }
  });

  const saved = rules.data ?? [];
  const enabledCount = saved.filter((r) => r.enabled).length;

  /** Rules changed: a preview of the old ones no longer says what applying does. */
  function changed() {
    setPreview(null);
    rules.reload();
  }

  async function save(fields: RetentionRuleFields) {
    if (!editing) return;
    if (editing.id === null) await api.createRetentionRule(fields);
    else await api.updateRetentionRule(editing.id, fields);
    toast('good', editing.id === null ? 'Rule added' : 'Rule saved');
    setEditing(null);
    changed();
  }

  async function previewSaved() {
    setPreviewing(true);
    setPreviewError(null);
    try {
      setPreview({ report: await api.previewRetention(), draft: false });
    } catch (err) {
      setPreviewError((err as Error).message);
    } finally {
      setPreviewing(false);
    }
  }

  /** The saved rules with the one being edited (or added) as it stands in the form. */
  async function previewDraft(fields: RetentionRuleFields) {
    const others = saved.filter((r) => r.id !== editing?.id).map(fieldsOfRule);
    setPreview({ report: await api.previewRetention([...others, fields]), draft: true });
    setPreviewError(null);
  }

  async function toggle(rule: RetentionRule) {
    try {
      await api.updateRetentionRule(rule.id, { enabled: !rule.enabled });
      changed();
    } catch (err) {
      toast('bad', `Could not change the rule: ${(err as Error).message}`);
    }
  }

  const settings = overview.data?.settings;
  const nextRun = overview.data?.nextRuns.retention;
  const applying = apply.active;
  const canApply = preview !== null && !preview.draft && enabledCount > 0 && !applying;
  return (
    <>
      <title>Retention · Berth</title>
      <PageHeader
        title="Retention"
        subtitle="Rules that untag old tags, so a registry that receives a push on every build does not grow forever."
        actions={
          !editing && (
            <button type="button" className="primary" onClick={() => setEditing({ id: null, draft: NEW_RULE })}>
              <Plus size={15} aria-hidden /> Add rule
            </button>
          )
        }
      />
      <p className="callout">
        <Info size={17} aria-hidden />
        <span>
          A tag is untagged when no enabled rule that matches its repository keeps it. Untagging frees no space by itself: the untagged manifests and their layers
          go with the next <Link to="/disk-usage#garbage-collection">garbage collection</Link> that removes untagged manifests.{' '}
          {settings &&
            (settings.retentionIntervalSeconds === null ? (
              <>
                The rules apply when you click Apply; to apply them on a schedule, set <code>retentionSchedule</code> (for example <code>"24h"</code>) in the
                config file of <code>berth serve</code>.
              </>
            ) : (
              <span data-testid="retention-schedule">
                The enabled rules are also applied every {formatInterval(settings.retentionIntervalSeconds)}
                {nextRun && (
                  <>
                    , next <Time iso={nextRun} />
                  </>
                )}
                .
              </span>
            ))}
        </span>
      </p>
      {editing && (
        <Card title={editing.id === null ? 'New rule' : 'Edit rule'}>
          <RuleForm
            key={editing.id ?? 'new'}
            initial={editing.draft}
            isNew={editing.id === null}
            onSave={save}
            onPreview={previewDraft}
            onCancel={() => {
              setEditing(null);
              if (preview?.draft) setPreview(null);
            }}
          />
        </Card>
      )}
      <Card title="Rules" flush>
        <Loaded resource={rules} card={false} errorTitle="Could not load the retention rules" loadingLabel="Loading retention rules" rows={4}>
          {(list) =>
            list.length === 0 ? (
              <EmptyState icon={<CalendarClock size={26} />} title="No retention rules">
                <p>Every tag stays until you delete it. A rule such as “keep the newest 10 tags of every repository, and always latest” cleans up by itself.</p>
                {!editing && (
                  <button type="button" onClick={() => setEditing({ id: null, draft: NEW_RULE })}>
                    <Plus size={15} aria-hidden /> Add a rule
                  </button>
                )}
              </EmptyState>
            ) : (
              <Table testId="retention-rules" caption="Retention rules" columns={['Repositories', 'Keeps', 'Always keeps', 'Enabled', { label: 'Actions', hidden: true }]}>
                {list.map((rule) => (
                  <tr key={rule.id} data-rule={rule.id} data-repositories={rule.repositories} className={rule.enabled ? undefined : 'muted-row'}>
                    <td>
                      <code>{rule.repositories}</code>
                    </td>
                    <td>{keeps(rule)}</td>
                    <td>{rule.keepTags ? <code>{rule.keepTags}</code> : <span className="faint">—</span>}</td>
                    <td>
                      <input type="checkbox" checked={rule.enabled} onChange={() => void toggle(rule)} aria-label={`Rule for ${rule.repositories} enabled`} />
                    </td>
                    <td className="num nowrap">
                      <button type="button" className="icon" aria-label={`Edit rule for ${rule.repositories}`} title="Edit" onClick={() => setEditing({ id: rule.id, draft: draftOf(rule) })}>
                        <Pencil size={16} aria-hidden />
                      </button>
                      <DeleteButton label={`Delete rule for ${rule.repositories}`} onClick={() => setDeleting(rule)} />
                    </td>
                  </tr>
                ))}
              </Table>
            )
          }
        </Loaded>
      </Card>
      <Card
        title="Dry run and apply"
        hint="See exactly which tags the saved rules would untag now; nothing changes until you apply."
        actions={
          <PreviewButtons
            previewing={previewing}
            previewDisabled={previewing || applying || saved.length === 0}
            onPreview={previewSaved}
            actLabel="Apply…"
            actIcon={<Scissors size={15} aria-hidden />}
            actDisabled={!canApply}
            actTitle={applying ? undefined : enabledCount === 0 ? 'No enabled rule to apply' : 'Preview the saved rules first'}
            onAct={() => setConfirmApply(true)}
          />
        }
      >
        {previewError && (
          <p className="callout bad" role="alert">
            <TriangleAlert size={17} aria-hidden />
            <span>Could not preview: {previewError}</span>
          </p>
        )}
        {applying && apply.run && <RunProgress run={apply.run} label="Applying the retention rules" />}
        {!applying && apply.run && isFinished(apply.run) && <ApplyOutcome run={apply.run} />}
        {preview ? (
          <PreviewResult report={preview.report} draft={preview.draft} />
        ) : (
          !apply.run && (
            <p className="muted" style={{ margin: 0 }}>
              {saved.length === 0 ? 'Add a rule, then preview what it would untag.' : 'Preview lists every tag the saved, enabled rules would untag.'}
            </p>
          )
        )}
      </Card>
      <ConfirmDialog
        open={deleting !== null}
        onClose={() => setDeleting(null)}
        onConfirm={async () => {
          await api.deleteRetentionRule(deleting!.id);
          toast('good', 'Rule deleted');
          if (editing?.id === deleting!.id) setEditing(null);
          changed();
        }}
        title="Delete this rule?"
        confirmLabel="Delete rule"
      >
        <p>
          The rule for <code>{deleting?.repositories}</code> goes. Tags it already untagged stay untagged; no tag is removed now.
        </p>
      </ConfirmDialog>
      <ConfirmDialog
        open={confirmApply}
        onClose={() => setConfirmApply(false)}
        onConfirm={async () => {
          await apply.start(api.applyRetention);
        }}
        title={`Untag ${formatCount(preview?.report.untagged.length ?? 0, 'tag')}?`}
        confirmLabel="Apply rules"
      >
        <p>
          The tags the preview listed are removed: pulls of them stop working. Their images stay, untagged, until garbage collection removes untagged
          manifests.
        </p>
        <p className="muted">The rules apply to the tags as they are then: if images were pushed since the preview, what goes can differ.</p>
      </ConfirmDialog>
    </>
  );
}
