/**
 * Users & tokens: who may push, pull and manage this registry (server/registry/user-admin.ts). Users
 * with their permissions and passwords; robot accounts and personal access tokens, whose secret is
 * shown once; logins (docker login, this UI) with when each was last used; revoking any of them. The
 * server checks every form and names the fields at fault, shown next to them.
 */
import { useEffect, useId, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { Bot, Info, KeyRound, Pencil, Plus, RefreshCw, ShieldCheck, Ticket, UserPlus, Users } from 'lucide-react';
import type { TokenKind, TokenView, UserView } from '../../server/registry/api-types.ts';
import { api, type NewToken } from '../api.ts';
import { AddressPending } from '../components/address-pending.tsx';
import { DeleteButton } from '../components/delete-button.tsx';
import { ConfirmDialog } from '../components/dialog.tsx';
import { FieldError, FormError, formErrors, isInvalid, type FormErrors } from '../components/field-errors.tsx';
import { Loaded } from '../components/loaded.tsx';
import { Card, PageHeader } from '../components/page.tsx';
import { newPermissionRow, PermissionChips, PermissionEditor, permissionRows, permissionsOf, type PermissionRow } from '../components/permission-editor.tsx';
import { SecretOnce } from '../components/secret-once.tsx';
import { EmptyState } from '../components/states.tsx';
import { Table } from '../components/table.tsx';
import { Time } from '../components/time.tsx';
import { useToast } from '../components/toast.tsx';
import { useResource } from '../hooks/use-resource.ts';
import { useStatus } from '../status.tsx';

const KIND: Record<TokenKind, { label: string; tone: string }> = {
  robot: { label: 'Robot token', tone: 'accent' },
  personal: { label: 'Personal token', tone: '' },
  login: { label: 'Login', tone: 'good' },
};

/** A login is labelled with the client it was issued to (its client_id): named as people know them. */
const CLIENTS: Record<string, string> = { 'berth-ui': 'Berth UI sign-in', 'berth-cli': 'berth command line', docker: 'docker login', podman: 'podman login' };

function tokenName(t: TokenView): string {
  return t.kind === 'login' ? (CLIENTS[t.label] ?? `${t.label} login`) : t.label;
}

const EXPIRIES = [
  { value: '7d', label: '7 days' },
  { value: '30d', label: '30 days' },
  { value: '90d', label: '90 days' },
  { value: '365d', label: '1 year' },
  { value: 'never', label: 'Never' },
];

/** A form's submit: busy while the request runs, the server's refusal kept for the fields. */
function useSubmit() {
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<FormErrors | null>(null);
  async function submit(event: FormEvent, action: () => Promise<void>) {
    event.preventDefault();
    setBusy(true);
    setErrors(null);
    try {
      await action();
    } catch (err) {
      setErrors(formErrors(err));
    } finally {
      setBusy(false);
    }
  }
  return { busy, errors, setErrors, submit };
}

function FormButtons({ busy, label, icon, onCancel }: { busy: boolean; label: string; icon: ReactNode; onCancel(): void }) {
  return (
    <div className="actions wide">
      <button type="submit" className="primary" disabled={busy}>
        {busy ? <span className="spinner" aria-hidden /> : icon}
        {label}
      </button>
      <button type="button" disabled={busy} onClick={onCancel}>
        Cancel
      </button>
    </div>
  );
}

/** A field whose message, when the server names it, shows under it. */
function TextField({ id, label, help, field, errors, children }: { id: string; label: string; help?: ReactNode; field: string; errors: FormErrors | null; children: ReactNode }) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children}
      <FieldError errors={errors} field={field} id={`${id}-error`} />
      {help && (
        <span className="help" id={`${id}-help`}>
          {help}
        </span>
      )}
    </div>
  );
}

/** Generate a password (shown once), or type one. */
function PasswordChoice({ id, generate, onGenerate, password, onPassword, errors }: {
  id: string;
  generate: boolean;
  onGenerate(generate: boolean): void;
  password: string;
  onPassword(password: string): void;
  errors: FormErrors | null;
}) {
  return (
    <fieldset className="field password-choice">
      <legend>Password</legend>
      <label className="check">
        <input type="radio" name={`${id}-choice`} checked={generate} onChange={() => onGenerate(true)} />
        Generate one (shown once, to pass on)
      </label>
      <label className="check">
        <input type="radio" name={`${id}-choice`} checked={!generate} onChange={() => onGenerate(false)} />
        Set one
      </label>
      {!generate && (
        <input
          id={id}
          type="password"
          autoComplete="new-password"
          aria-label="New password"
          value={password}
          aria-invalid={isInvalid(errors, 'password')}
          aria-describedby={`${id}-help${errors?.fields[0] === 'password' ? ` ${id}-error` : ''}`}
          onChange={(e) => onPassword(e.target.value)}
        />
      )}
      <FieldError errors={errors} field="password" id={`${id}-error`} />
      <span className="help" id={`${id}-help`}>
        At least 8 characters. Logins made with the old password end; tokens stay.
      </span>
    </fieldset>
  );
}

function NewUserForm({ onCreated, onCancel }: { onCreated(user: UserView, password: string | null): void; onCancel(): void }) {
  const id = useId();
  const [name, setName] = useState('');
  const [rows, setRows] = useState<PermissionRow[]>(() => [newPermissionRow('*', ['pull'])]);
  const [generate, setGenerate] = useState(true);
  const [password, setPassword] = useState('');
  const { busy, errors, submit } = useSubmit();
  const first = useRef<HTMLInputElement>(null);
  useEffect(() => first.current?.focus(), []);
  return (
    <form
      className="user-form"
      aria-label="New user"
      noValidate
      onSubmit={(e) =>
        submit(e, async () => {
          const created = await api.createUser({ name: name.trim(), permissions: permissionsOf(rows), ...(generate ? {} : { password }) });
          onCreated(created.user, created.password);
        })
      }
    >
      <TextField id={`${id}-name`} label="User name" field="name" errors={errors} help="Letters, digits, “.”, “_”, “@” or “-”. It is the name for docker login.">
        <input
          ref={first}
          id={`${id}-name`}
          type="text"
          autoComplete="off"
          spellCheck={false}
          value={name}
          aria-invalid={isInvalid(errors, 'name')}
          aria-describedby={`${id}-name-help${errors?.fields[0] === 'name' ? ` ${id}-name-error` : ''}`}
          onChange={(e) => setName(e.target.value)}
        />
      </TextField>
      <PasswordChoice id={`${id}-password`} generate={generate} onGenerate={setGenerate} password={password} onPassword={setPassword} errors={errors} />
      <div className="wide">
        <PermissionEditor rows={rows} onChange={setRows} errors={errors} idBase={`${id}-permissions`} />
      </div>
      <FormError errors={errors} shown={(f) => ['name', 'password'].includes(f) || f.startsWith('permissions')} />
      <FormButtons busy={busy} label="Add user" icon={<UserPlus size={15} aria-hidden />} onCancel={onCancel} />
    </form>
  );
}

function PermissionsForm({ user, onSaved, onCancel }: { user: UserView; onSaved(): void; onCancel(): void }) {
  const id = useId();
  const [rows, setRows] = useState(() => permissionRows(user.permissions));
  const { busy, errors, submit } = useSubmit();
  return (
    <form
      className="user-form"
      aria-label={`Permissions of ${user.name}`}
      noValidate
      onSubmit={(e) =>
        submit(e, async () => {
          await api.setPermissions(user.name, permissionsOf(rows));
          onSaved();
        })
      }
    >
      <div className="wide">
        <PermissionEditor
          rows={rows}
          onChange={setRows}
          errors={errors}
          idBase={`${id}-permissions`}
          help={`What ${user.name} may do from now on (tokens of theirs are limited by it too). * matches any characters, / included.`}
        />
      </div>
      <FormError errors={errors} shown={(f) => f.startsWith('permissions')} />
      <FormButtons busy={busy} label="Save permissions" icon={<ShieldCheck size={15} aria-hidden />} onCancel={onCancel} />
    </form>
  );
}

function PasswordForm({ user, onChanged, onCancel }: { user: UserView; onChanged(password: string | null): void; onCancel(): void }) {
  const id = useId();
  const [generate, setGenerate] = useState(true);
  const [password, setPassword] = useState('');
  const { busy, errors, submit } = useSubmit();
  return (
    <form
      className="user-form"
      aria-label={`New password for ${user.name}`}
      noValidate
      onSubmit={(e) =>
        submit(e, async () => {
          onChanged((await api.setPassword(user.name, generate ? undefined : password)).password);
        })
      }
    >
      <PasswordChoice id={`${id}-password`} generate={generate} onGenerate={setGenerate} password={password} onPassword={setPassword} errors={errors} />
      <FormError errors={errors} shown={(f) => f === 'password'} />
      <FormButtons busy={busy} label="Change password" icon={<KeyRound size={15} aria-hidden />} onCancel={onCancel} />
    </form>
  );
}

function NewTokenForm({ users, onCreated, onCancel }: { users: UserView[]; onCreated(owner: string, token: TokenView, secret: string): void; onCancel(): void }) {
  const id = useId();
  const people = users.filter((u) => u.kind === 'user');
  const robots = users.filter((u) => u.kind === 'robot');
  const [kind, setKind] = useState<'robot' | 'personal'>('robot');
  const [robot, setRobot] = useState('');
  const [user, setUser] = useState(people[0]?.name ?? '');
  const [label, setLabel] = useState('');
  const [expires, setExpires] = useState('90d');
  const [rows, setRows] = useState<PermissionRow[]>(() => [newPermissionRow('', ['pull', 'push'])]);
  const { busy, errors, setErrors, submit } = useSubmit();
  const existingRobot = robots.find((r) => r.name === robot.trim());
  const owner = kind === 'robot' ? robot.trim() : user;
  const fieldOfOwner = kind === 'robot' ? 'robot' : 'user';
  const describedBy = (field: string) => `${id}-${field}-help${errors?.fields[0] === field ? ` ${id}-${field}-error` : ''}`;
  return (
    <form
      className="user-form"
      aria-label="New token"
      noValidate
      onSubmit={(e) =>
        submit(e, async () => {
          const permissions = permissionsOf(rows);
          const token: NewToken = {
            ...(kind === 'robot' ? { robot: owner } : { user: owner }),
            ...(label.trim() ? { name: label.trim() } : {}),
            expires,
            ...(permissions.length > 0 ? { permissions } : {}),
          };
          const created = await api.createToken(token);
          onCreated(owner, created.token, created.secret);
        })
      }
    >
      <fieldset className="field wide">
        <legend>For</legend>
        <div className="radio-row">
          <label className="check">
            <input type="radio" name={`${id}-kind`} checked={kind === 'robot'} onChange={() => (setKind('robot'), setErrors(null))} />
            A robot account <span className="help">— CI and scripts: no password, only tokens</span>
          </label>
          <label className="check">
            <input type="radio" name={`${id}-kind`} checked={kind === 'personal'} onChange={() => (setKind('personal'), setErrors(null), setRows([]))} disabled={people.length === 0} />
            A user <span className="help">— a personal token, used as their password</span>
          </label>
        </div>
      </fieldset>
      {kind === 'robot' ? (
        <TextField
          id={`${id}-robot`}
          label="Robot account"
          field="robot"
          errors={errors}
          help={existingRobot ? `An existing robot account: a new token for it.` : robots.length > 0 ? `A new name makes a robot account; or pick one: ${robots.map((r) => r.name).join(', ')}.` : 'A new robot account is made with this name.'}
        >
          <input
            id={`${id}-robot`}
            type="text"
            list={`${id}-robots`}
            autoComplete="off"
            spellCheck={false}
            placeholder="ci"
            value={robot}
            aria-invalid={isInvalid(errors, 'robot')}
            aria-describedby={describedBy('robot')}
            onChange={(e) => setRobot(e.target.value)}
          />
          <datalist id={`${id}-robots`}>
            {robots.map((r) => (
              <option key={r.name} value={r.name} />
            ))}
          </datalist>
        </TextField>
      ) : (
        <TextField id={`${id}-user`} label="User" field="user" errors={errors} help="The token acts for this user, within their permissions.">
          <select id={`${id}-user`} value={user} aria-invalid={isInvalid(errors, 'user')} aria-describedby={describedBy('user')} onChange={(e) => setUser(e.target.value)}>
            {people.map((p) => (
              <option key={p.name} value={p.name}>
                {p.name}
              </option>
            ))}
          </select>
        </TextField>
      )}
      <TextField id={`${id}-name`} label="Token name" field="name" errors={errors} help="What it is for, to recognise it in the list (optional).">
        <input
          id={`${id}-name`}
          type="text"
          autoComplete="off"
          placeholder="github-actions"
          value={label}
          aria-invalid={isInvalid(errors, 'name')}
          aria-describedby={describedBy('name')}
          onChange={(e) => setLabel(e.target.value)}
        />
      </TextField>
      <TextField id={`${id}-expires`} label="Expires after" field="expires" errors={errors}>
        <select id={`${id}-expires`} value={expires} aria-invalid={isInvalid(errors, 'expires')} onChange={(e) => setExpires(e.target.value)}>
          {EXPIRIES.map((x) => (
            <option key={x.value} value={x.value}>
              {x.label}
            </option>
          ))}
        </select>
      </TextField>
      <div className="wide">
        <PermissionEditor
          rows={rows}
          onChange={setRows}
          errors={errors}
          idBase={`${id}-permissions`}
          help={
            kind === 'robot' && !existingRobot
              ? `What the new robot account ${owner || ''} may do. * matches any characters, / included.`
              : `Narrower than ${owner || 'the account'}'s own, if you like; with no rows the token may do what ${owner || 'the account'} may.`
          }
        />
      </div>
      <FormError errors={errors} shown={(f) => [fieldOfOwner, 'name', 'expires'].includes(f) || f.startsWith('permissions')} />
      <FormButtons busy={busy} label="Create token" icon={<Ticket size={15} aria-hidden />} onCancel={onCancel} />
    </form>
  );
}

function AuthOffNotice() {
  return (
    <p className="callout warn" data-testid="auth-off">
      <Info size={17} aria-hidden />
      <span>
        <strong>Registry authentication is off.</strong> Anyone who can reach Berth may push and pull without logging in (it answers this computer only
        unless you changed that), so the users and tokens here are not asked for yet. They apply once authentication is on: start{' '}
        <code>berth serve --auth token</code>, or let Berth listen on all interfaces (Settings in the desktop app), which turns it on. Until then you can
        prepare them here.
      </span>
    </p>
  );
}

/** `login` is the docker login command for an address: built when shown, once the address is known. */
type Secret = { title: string; label: string; secret: string; login: ((host: string) => string) | null };

export function UsersPage() {
  const toast = useToast();
  const status = useStatus();
  const users = useResource((signal) => api.users(signal), []);
  const tokens = useResource((signal) => api.tokens(signal), []);
  const [adding, setAdding] = useState(false);
  const [creatingToken, setCreatingToken] = useState(false);
  const [editing, setEditing] = useState<UserView | null>(null);
  const [passwordFor, setPasswordFor] = useState<UserView | null>(null);
  const [removing, setRemoving] = useState<UserView | null>(null);
  const [revoking, setRevoking] = useState<TokenView | null>(null);
  const [secret, setSecret] = useState<Secret | null>(null);

  const reload = () => {
    users.reload();
    tokens.reload();
  };
  const closeForms = () => {
    setAdding(false);
    setCreatingToken(false);
    setEditing(null);
    setPasswordFor(null);
  };
  const authOff = users.data?.authEnabled === false;

  return (
    <>
      <title>Users & tokens · Berth</title>
      <PageHeader
        title="Users & tokens"
        subtitle="Who may push, pull and manage this registry: users, robot accounts for CI, and their access tokens."
        actions={
          <>
            <button type="button" onClick={() => (closeForms(), setAdding(true))}>
              <UserPlus size={15} aria-hidden /> Add user
            </button>
            <button type="button" className="primary" onClick={() => (closeForms(), setCreatingToken(true))} disabled={!users.data}>
              <Plus size={15} aria-hidden /> Create token
            </button>
          </>
        }
      />
      {authOff && <AuthOffNotice />}
      {secret && (
        <SecretOnce title={secret.title} secret={secret.secret} label={secret.label} onDone={() => setSecret(null)} testId="secret-once">
          {secret.login &&
            (status.data ? (
              <p className="muted" style={{ margin: '8px 0 0' }}>
                Log in with it: <code>{secret.login(status.data.addresses.localhost)}</code>
              </p>
            ) : (
              <AddressPending status={status} />
            ))}
        </SecretOnce>
      )}
      {adding && (
        <Card title="New user">
          <NewUserForm
            onCancel={() => setAdding(false)}
            onCreated={(user, password) => {
              setAdding(false);
              toast('good', `Added ${user.name}`);
              if (password) setSecret({ title: `Password of ${user.name}`, label: `password of ${user.name}`, secret: password, login: (host) => `docker login ${host} -u ${user.name}` });
              reload();
            }}
          />
        </Card>
      )}
      {editing && (
        <Card title={`Permissions of ${editing.name}`}>
          <PermissionsForm
            key={editing.name}
            user={editing}
            onCancel={() => setEditing(null)}
            onSaved={() => {
              toast('good', `Saved the permissions of ${editing.name}`);
              setEditing(null);
              reload();
            }}
          />
        </Card>
      )}
      {passwordFor && (
        <Card title={`New password for ${passwordFor.name}`}>
          <PasswordForm
            key={passwordFor.name}
            user={passwordFor}
            onCancel={() => setPasswordFor(null)}
            onChanged={(password) => {
              toast('good', `Changed the password of ${passwordFor.name}`);
              if (password) setSecret({ title: `New password of ${passwordFor.name}`, label: `password of ${passwordFor.name}`, secret: password, login: null });
              setPasswordFor(null);
              reload();
            }}
          />
        </Card>
      )}
      {creatingToken && users.data && (
        <Card title="New token">
          <NewTokenForm
            users={users.data.users}
            onCancel={() => setCreatingToken(false)}
            onCreated={(owner, token, value) => {
              setCreatingToken(false);
              toast('good', `Created the token ${token.label} for ${owner}`);
              setSecret({ title: `Token ${token.label} for ${owner}`, label: `token for ${owner}`, secret: value, login: (host) => `echo "$TOKEN" | docker login ${host} -u ${owner} --password-stdin` });
              reload();
            }}
          />
        </Card>
      )}
      <Card title="Users" hint="People log in with a password or a personal token; robot accounts only with their tokens." flush>
        <Loaded resource={users} card={false} errorTitle="Could not load the users" loadingLabel="Loading users" rows={4}>
          {({ users: list }) =>
            list.length === 0 ? (
              <EmptyState icon={<Users size={26} />} title="No users yet">
                <p>Add people who push and pull, or create a token for a robot account (CI, scripts).</p>
              </EmptyState>
            ) : (
              <Table testId="users" caption="Users" columns={['Name', 'Permissions', { label: 'Tokens', num: true }, 'Created', { label: 'Actions', hidden: true }]}>
                {list.map((u) => (
                  <tr key={u.name} data-user={u.name}>
                    <td>
                      <span className="actions" style={{ gap: 6 }}>
                        {u.kind === 'robot' && <Bot size={15} aria-hidden />}
                        <strong>{u.name}</strong>
                        {u.kind === 'robot' && <span className="chip">robot</span>}
                        {u.admin && <span className="chip accent">admin</span>}
                      </span>
                    </td>
                    <td>
                      <PermissionChips permissions={u.permissions} />
                    </td>
                    <td className="num">{u.tokens}</td>
                    <td className="nowrap">
                      <Time iso={u.createdAt} />
                    </td>
                    <td className="num nowrap">
                      <button type="button" className="icon" aria-label={`Edit permissions of ${u.name}`} title="Edit permissions" onClick={() => (closeForms(), setEditing(u))}>
                        <Pencil size={16} aria-hidden />
                      </button>
                      {u.kind === 'user' && (
                        <button type="button" className="icon" aria-label={`Change the password of ${u.name}`} title="Change password" onClick={() => (closeForms(), setPasswordFor(u))}>
                          <KeyRound size={16} aria-hidden />
                        </button>
                      )}
                      <DeleteButton label={`Remove ${u.name}`} onClick={() => setRemoving(u)} />
                    </td>
                  </tr>
                ))}
              </Table>
            )
          }
        </Loaded>
      </Card>
      <Card
        title="Tokens and logins"
        hint="Access tokens of robot accounts and users, and the logins clients keep (docker login, this UI). Revoking one ends it at once."
        flush
        actions={
          <button type="button" className="small" onClick={() => tokens.reload()} title="Show the latest use of each">
            <RefreshCw size={14} aria-hidden /> Refresh
          </button>
        }
      >
        <Loaded resource={tokens} card={false} errorTitle="Could not load the tokens" loadingLabel="Loading tokens" rows={4}>
          {({ tokens: list }) =>
            list.length === 0 ? (
              <EmptyState icon={<Ticket size={26} />} title="No tokens yet">
                <p>A robot token lets CI push without a person’s password: Create token.</p>
              </EmptyState>
            ) : (
              <Table testId="tokens" caption="Tokens and logins" columns={['Token', 'User', 'Permissions', 'Created', 'Expires', 'Last used', { label: 'Actions', hidden: true }]}>
                {list.map((t) => (
                  <tr key={t.id} data-token={t.id} data-kind={t.kind} data-label={t.label} className={t.expired ? 'muted-row' : undefined}>
                    <td>
                      <span className="token-name">
                        <strong>{tokenName(t)}</strong>
                        <span className={`chip ${KIND[t.kind].tone}`}>{KIND[t.kind].label}</span>
                      </span>
                      <code className="faint token-id" title="Its id (berth token revoke ID); never the secret">
                        {t.id}
                      </code>
                    </td>
                    <td>{t.user}</td>
                    <td>{t.permissions ? <PermissionChips permissions={t.permissions} /> : <span className="faint">the {t.kind === 'robot' ? 'robot' : 'user'}’s</span>}</td>
                    <td className="nowrap">
                      <Time iso={t.createdAt} />
                    </td>
                    <td className="nowrap" data-field="expires">
                      {t.expired ? <span className="chip bad">expired</span> : t.expiresAt ? <Time iso={t.expiresAt} /> : <span className="faint">never</span>}
                    </td>
                    <td className="nowrap" data-field="last-used">
                      <Time iso={t.lastUsedAt} fallback="never" />
                    </td>
                    <td className="num">
                      <button type="button" className="small danger" aria-label={`Revoke ${tokenName(t)} of ${t.user}`} onClick={() => setRevoking(t)}>
                        Revoke
                      </button>
                    </td>
                  </tr>
                ))}
              </Table>
            )
          }
        </Loaded>
      </Card>
      <ConfirmDialog
        open={removing !== null}
        onClose={() => setRemoving(null)}
        onConfirm={async () => {
          await api.removeUser(removing!.name);
          toast('good', `Removed ${removing!.name}`);
          if (editing?.name === removing!.name) setEditing(null);
          if (passwordFor?.name === removing!.name) setPasswordFor(null);
          reload();
        }}
        title={`Remove ${removing?.name}?`}
        confirmLabel="Remove"
      >
        <p>
          {removing?.kind === 'robot' ? 'The robot account' : 'The user'} <strong>{removing?.name}</strong> and every token and login of theirs end now: clients
          using them are refused from their next login.
        </p>
      </ConfirmDialog>
      <ConfirmDialog
        open={revoking !== null}
        onClose={() => setRevoking(null)}
        onConfirm={async () => {
          await api.revokeToken(revoking!.id);
          toast('good', `Revoked ${tokenName(revoking!)}`);
          tokens.reload();
          users.reload();
        }}
        title={`Revoke ${revoking ? tokenName(revoking) : ''}?`}
        confirmLabel="Revoke"
      >
        <p>
          {revoking?.kind === 'login' ? 'This login' : 'This token'} of <strong>{revoking?.user}</strong> stops working now
          {revoking?.kind !== 'login' && ', and so do the logins made with it'}. Access already granted lasts at most 5 minutes.
        </p>
      </ConfirmDialog>
    </>
  );
}
