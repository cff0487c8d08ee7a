/**
 * Editing a list of permissions: one row per repository pattern with its actions. The server checks
 * them (registry/user-admin.ts) and names a row's field at fault ("permissions.1.repository"), shown
 * under that row.
 */
import { Plus, ShieldCheck, X } from 'lucide-react';
import type { PermissionAction, PermissionView } from '../../server/registry/api-types.ts';
import { FieldError, isInvalid, type FormErrors } from './field-errors.tsx';

export const ACTIONS: { action: PermissionAction; label: string; hint: string }[] = [
  { action: 'pull', label: 'Pull', hint: 'read images' },
  { action: 'push', label: 'Push', hint: 'upload images and tags' },
  { action: 'delete', label: 'Delete', hint: 'delete tags and images' },
  { action: 'admin', label: 'Admin', hint: 'everything; on * also the catalog and managing Berth' },
];

export interface PermissionRow {
  /** Stable across edits, for React and the row's element ids. */
  key: number;
  repository: string;
  actions: PermissionAction[];
}

let nextKey = 1;

export function permissionRows(permissions: readonly PermissionView[]): PermissionRow[] {
  return permissions.map((p) => ({ key: nextKey++, repository: p.repository, actions: [...p.actions] }));
}

export function newPermissionRow(repository = '', actions: PermissionAction[] = ['pull']): PermissionRow {
  return { key: nextKey++, repository, actions };
}

/** The rows to send, every one (the server's "permissions.<i>" must name the row shown as i). */
export function permissionsOf(rows: readonly PermissionRow[]): PermissionView[] {
  return rows.map((r) => ({ repository: r.repository.trim(), actions: r.actions }));
}

/** "team/*: pull, push". */
export function PermissionChips({ permissions }: { permissions: readonly PermissionView[] }) {
  return (
    <span className="chips">
      {permissions.map((p) => (
        <span key={p.repository} className={`chip mono${p.actions.includes('admin') && p.repository === '*' ? ' accent' : ''}`}>
          {`${p.repository}: ${p.actions.join(', ')}`}
        </span>
      ))}
    </span>
  );
}

export function PermissionEditor({ rows, onChange, errors, idBase, field = 'permissions', help }: {
  rows: PermissionRow[];
  onChange(rows: PermissionRow[]): void;
  errors: FormErrors | null;
  /** Unique per form: the inputs' ids start with it. */
  idBase: string;
  /** The request field the rows are sent as (errors name "<field>.<i>..."). */
  field?: string;
  help?: string;
}) {
  const update = (key: number, change: Partial<PermissionRow>) => onChange(rows.map((r) => (r.key === key ? { ...r, ...change } : r)));
  const toggle = (row: PermissionRow, action: PermissionAction, on: boolean) =>
    update(row.key, { actions: on ? ACTIONS.map((a) => a.action).filter((a) => a === action || row.actions.includes(a)) : row.actions.filter((a) => a !== action) });
  const helpId = `${idBase}-help`;
  return (
    <fieldset className="permissions" aria-describedby={helpId} aria-invalid={isInvalid(errors, field)}>
      <legend>Permissions</legend>
      <span className="help" id={helpId}>
        {help ?? 'Repository patterns: * matches any characters, / included (team/* is everything under team/, * every repository).'}
      </span>
      <FieldError errors={errors} field={field} id={`${idBase}-error`} />
      {rows.map((row, i) => {
        const at = `${field}.${i}`;
        const rowFields = [at, `${at}.repository`, `${at}.actions`];
        const errorField = rowFields.find((f) => errors?.fields[0] === f);
        const inputId = `${idBase}-${row.key}-repository`;
        return (
          <div className="permission-row" key={row.key} data-permission={i}>
            <input
              id={inputId}
              type="text"
              spellCheck={false}
              autoComplete="off"
              placeholder="team/*"
              aria-label={`Repositories of permission ${i + 1}`}
              value={row.repository}
              aria-invalid={isInvalid(errors, `${at}.repository`) || isInvalid(errors, at)}
              aria-describedby={errorField ? `${idBase}-${row.key}-error` : undefined}
              onChange={(e) => update(row.key, { repository: e.target.value })}
            />
            <span className="permission-actions" role="group" aria-label={`Actions of permission ${i + 1}`} aria-invalid={isInvalid(errors, `${at}.actions`)}>
              {ACTIONS.map(({ action, label, hint }) => (
                <label key={action} className="check" title={hint}>
                  <input type="checkbox" checked={row.actions.includes(action)} onChange={(e) => toggle(row, action, e.target.checked)} />
                  {label}
                </label>
              ))}
            </span>
            <button type="button" className="icon" aria-label={`Remove permission ${i + 1}`} title="Remove" onClick={() => onChange(rows.filter((r) => r.key !== row.key))}>
              <X size={16} aria-hidden />
            </button>
            {errorField && <FieldError errors={errors} field={errorField} id={`${idBase}-${row.key}-error`} />}
          </div>
        );
      })}
      <div className="actions">
        <button type="button" className="small" onClick={() => onChange([...rows, newPermissionRow()])}>
          <Plus size={14} aria-hidden /> Add permission
        </button>
        <button type="button" className="small" onClick={() => onChange([newPermissionRow('*', ['admin'])])} title="*:admin: every repository, the catalog, and managing Berth">
          <ShieldCheck size={14} aria-hidden /> Make administrator
        </button>
      </div>
    </fieldset>
  );
}
