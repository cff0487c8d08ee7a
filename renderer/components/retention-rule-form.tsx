/**
 * Creating or changing a retention rule. The server validates the rule (registry/retention.ts) and
 * names the fields at fault (detail.fields); its message is shown next to the first of them. Here only
 * the text of the number fields is read as numbers.
 */
import { useEffect, useId, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { Eye, Save } from 'lucide-react';
import type { RetentionRule } from '../../server/registry/api-types.ts';
import { ApiError, type RetentionRuleFields } from '../api.ts';

/** The form's fields as typed. */
export interface RuleDraft {
  repositories: string;
  keepLast: string;
  keepDays: string;
  keepTags: string;
  enabled: boolean;
}

type Field = keyof RuleDraft;
const FIELDS: Field[] = ['repositories', 'keepLast', 'keepDays', 'keepTags', 'enabled'];

export const NEW_RULE: RuleDraft = { repositories: '**', keepLast: '10', keepDays: '', keepTags: 'latest', enabled: true };

export function draftOf(rule: RetentionRule): RuleDraft {
  return {
    repositories: rule.repositories,
    keepLast: rule.keepLast === null ? '' : String(rule.keepLast),
    keepDays: rule.keepDays === null ? '' : String(rule.keepDays),
    keepTags: rule.keepTags ?? '',
    enabled: rule.enabled,
  };
}

class DraftError extends Error {
  readonly field: Field;
  constructor(field: Field, message: string) {
    super(message);
    this.field = field;
  }
}

function numberField(draft: RuleDraft, field: 'keepLast' | 'keepDays'): number | null {
  const text = draft[field].trim();
  if (text === '') return null;
  if (!/^\d+(\.\d+)?$/.test(text)) throw new DraftError(field, 'Enter a number, or leave it empty.');
  return Number(text);
}

/** The rule to send; empty fields are "not set" (null). */
export function fieldsOf(draft: RuleDraft): RetentionRuleFields {
  return {
    repositories: draft.repositories.trim(),
    keepLast: numberField(draft, 'keepLast'),
    keepDays: numberField(draft, 'keepDays'),
    keepTags: draft.keepTags.trim() === '' ? null : draft.keepTags.trim(),
    enabled: draft.enabled,
  };
}

/** Next to its field, the server's message needs no "invalid retention rule:" in front. */
function besideField(message: string): string {
  const bare = message.replace(/^invalid retention rule: /, '');
  return bare.charAt(0).toUpperCase() + bare.slice(1);
}

export function RuleForm({ initial, isNew, onSave, onPreview, onCancel }: {
  initial: RuleDraft;
  isNew: boolean;
  onSave(fields: RetentionRuleFields): Promise<void>;
  /** A dry run with this rule as it stands, unsaved. */
  onPreview(fields: RetentionRuleFields): Promise<void>;
  onCancel(): void;
}) {
  const [draft, setDraft] = useState(initial);
  const [errors, setErrors] = useState<{ fields: Field[]; message: string } | null>(null);
  const [busy, setBusy] = useState<'save' | 'preview' | null>(null);
  const base = useId();
  const first = useRef<HTMLInputElement>(null);
  useEffect(() => first.current?.focus(), []);

  const id = (field: Field) => `${base}-${field}`;
  const update = <K extends Field>(field: K, value: RuleDraft[K]) => {
    setDraft({ ...draft, [field]: value });
    setErrors(null);
  };

  async function act(kind: 'save' | 'preview', action: (fields: RetentionRuleFields) => Promise<void>) {
    setErrors(null);
    setBusy(kind);
    try {
      await action(fieldsOf(draft));
    } catch (err) {
      if (err instanceof DraftError) setErrors({ fields: [err.field], message: err.message });
      else {
        const fields = err instanceof ApiError ? err.fields.filter((f): f is Field => (FIELDS as string[]).includes(f)) : [];
        setErrors({ fields, message: fields.length ? besideField((err as Error).message) : (err as Error).message });
      }
    } finally {
      setBusy(null);
    }
  }

  const submit = (event: FormEvent) => {
    event.preventDefault();
    void act('save', onSave);
  };

  /** The message goes under the first field at fault; the others point to it. */
  const invalid = (field: Field) => errors?.fields.includes(field) ?? false;
  const describedBy = (field: Field) => {
    const ids = [`${id(field)}-help`];
    if (invalid(field)) ids.push(`${id(errors!.fields[0]!)}-error`);
    return ids.join(' ');
  };
  const fieldError = (field: Field) =>
    errors?.fields[0] === field && (
      <span className="error-text" id={`${id(field)}-error`} role="alert">
        {errors.message}
      </span>
    );
  const textField = (field: 'repositories' | 'keepLast' | 'keepDays' | 'keepTags', label: string, help: ReactNode, extra: { numeric?: boolean; wide?: boolean } = {}) => (
    <div className={`field${extra.wide ? ' wide' : ''}`}>
      <label htmlFor={id(field)}>{label}</label>
      <input
        ref={field === 'repositories' ? first : undefined}
        id={id(field)}
        type="text"
        inputMode={extra.numeric ? 'decimal' : undefined}
        spellCheck={false}
        autoComplete="off"
        value={draft[field]}
        aria-invalid={invalid(field)}
        aria-describedby={describedBy(field)}
        onChange={(e) => update(field, e.target.value)}
      />
      {fieldError(field)}
      <span className="help" id={`${id(field)}-help`}>
        {help}
      </span>
    </div>
  );

  const general = errors && errors.fields.length === 0;
  return (
    <form className="rule-form" onSubmit={submit} noValidate aria-label={isNew ? 'New retention rule' : 'Edit retention rule'}>
      {textField(
        'repositories',
        'Repositories',
        <>
          A pattern of repository names: <code>team/*</code> (everything under team/, at any depth), <code>*</code> (every repository); <code>?</code> is one character, <code>{'{a,b}'}</code> either.
        </>,
        { wide: true },
      )}
      {textField('keepLast', 'Keep the newest … tags', 'By push time, per repository. Empty: no count limit.', { numeric: true })}
      {textField('keepDays', 'Keep tags pushed within … days', 'Empty: no age limit. With both, a tag either one keeps stays.', { numeric: true })}
      {textField(
        'keepTags',
        'Always keep tags matching',
        <>
          A pattern of tag names, such as <code>latest</code> or <code>{'{latest,v*}'}</code>. Empty: none.
        </>,
        { wide: true },
      )}
      <div className="field wide">
        <label className="check" htmlFor={id('enabled')}>
          <input id={id('enabled')} type="checkbox" checked={draft.enabled} aria-invalid={invalid('enabled')} onChange={(e) => update('enabled', e.target.checked)} />
          <span>
            Enabled <span className="help">— disabled rules are kept but not applied</span>
          </span>
        </label>
        {fieldError('enabled')}
        <span className="help" id={`${id('enabled')}-help`} hidden />
      </div>
      {general && (
        <p className="callout bad wide" role="alert">
          {errors.message}
        </p>
      )}
      <div className="actions wide">
        <button type="submit" className="primary" disabled={busy !== null}>
          {busy === 'save' ? <span className="spinner" aria-hidden /> : <Save size={15} aria-hidden />}
          {isNew ? 'Add rule' : 'Save rule'}
        </button>
        <button type="button" disabled={busy !== null} onClick={() => void act('preview', onPreview)}>
          {busy === 'preview' ? <span className="spinner" aria-hidden /> : <Eye size={15} aria-hidden />}
          Preview with this rule
        </button>
        <button type="button" disabled={busy !== null} onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
