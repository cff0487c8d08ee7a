/**
 * With registry auth on, the management API serves administrators only: in a browser the user signs
 * in with a Berth user (the desktop app's window has its own token and never sees this).
 */
import { useEffect, useId, useState, type FormEvent, type ReactNode } from 'react';
import { Anchor, LogIn } from 'lucide-react';
import { signIn, watchSignIn } from '../api.ts';

function SignInPage() {
  const [user, setUser] = useState('admin');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const userId = useId();
  const passwordId = useId();

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await signIn(user.trim(), password);
    } catch (err) {
      setError((err as Error).message);
      setBusy(false);
    }
  }

  return (
    <main className="sign-in" id="main">
      <title>Sign in · Berth</title>
      <form className="card" onSubmit={submit}>
        <div className="card-body" style={{ display: 'grid', gap: 14 }}>
          <div className="brand" style={{ padding: 0 }}>
            <span className="brand-mark" aria-hidden>
              <Anchor size={18} />
            </span>
            Berth
          </div>
          <div>
            <h1 style={{ fontSize: '1.3rem' }}>Sign in to manage this registry</h1>
            <p className="muted" style={{ marginTop: 6 }}>
              Registry authentication is on. Use a Berth user allowed to administer it (the first one is <code>admin</code>).
            </p>
          </div>
          <div className="field" style={{ margin: 0 }}>
            <label htmlFor={userId}>User name</label>
            <input id={userId} type="text" autoComplete="username" value={user} onChange={(e) => setUser(e.target.value)} required />
          </div>
          <div className="field" style={{ margin: 0 }}>
            <label htmlFor={passwordId}>Password or access token</label>
            <input id={passwordId} type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required autoFocus />
          </div>
          {error && (
            <p className="callout bad" role="alert" style={{ margin: 0 }}>
              {error}
            </p>
          )}
          <button type="submit" className="primary" disabled={busy || !user.trim() || !password} style={{ justifyContent: 'center' }}>
            {busy ? <span className="spinner" aria-hidden /> : <LogIn size={15} aria-hidden />}
            Sign in
          </button>
        </div>
      </form>
    </main>
  );
}

/** Shows the sign-in page instead of the app whenever the server asks for credentials. */
export function SignInGate({ children }: { children: ReactNode }) {
  const [needed, setNeeded] = useState(false);
  useEffect(() => watchSignIn(setNeeded), []);
  return needed ? <SignInPage /> : <>{children}</>;
}
