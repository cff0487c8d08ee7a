/**
 * A secret Berth shows once (a generated password, a new token's secret): it stays on screen until the
 * user says they have it, and is then forgotten; the server keeps only its hash.
 */
import type { ReactNode } from 'react';
import { KeyRound } from 'lucide-react';
import { CopyButton } from './copy.tsx';

export function SecretOnce({ title, secret, label, onDone, children, testId }: {
  title: ReactNode;
  secret: string;
  /** What the secret is, for the copy button ("password of alice"). */
  label: string;
  onDone(): void;
  children?: ReactNode;
  testId?: string;
}) {
  return (
    <div className="callout warn secret-once" role="status" data-testid={testId}>
      <KeyRound size={17} aria-hidden />
      <div className="secret-body">
        <strong>{title}</strong>
        <p style={{ margin: '2px 0 8px' }}>Copy it now: Berth shows it only this once, and keeps only a hash of it.</p>
        <div className="secret-value">
          <code data-secret aria-label={label}>
            {secret}
          </code>
          <CopyButton text={secret} label={`Copy the ${label}`} />
        </div>
        {children}
        <div className="actions" style={{ marginTop: 10 }}>
          <button type="button" className="small" onClick={onDone}>
            I have copied it
          </button>
        </div>
      </div>
    </div>
  );
}
