/** Copy buttons and copyable code blocks (the desktop app's clipboard, or the browser's). */
import { useState, type ReactNode } from 'react';
import { Check, Copy } from 'lucide-react';
import { copyText } from '../api.ts';
import { useToast } from './toast.tsx';

export function CopyButton({ text, label, className = 'icon' }: { text: string; label: string; className?: string }) {
  const [copied, setCopied] = useState(false);
  const toast = useToast();
  async function copy() {
    try {
      await copyText(text);
      setCopied(true);
      setTimeout(() => setCopied(false), 1500);
    } catch (err) {
      toast('bad', `Could not copy: ${(err as Error).message}`);
    }
  }
  return (
    <button type="button" className={`copy ${className}`} onClick={copy} aria-label={copied ? 'Copied' : label} title={copied ? 'Copied' : label}>
      {copied ? <Check size={16} aria-hidden /> : <Copy size={16} aria-hidden />}
    </button>
  );
}

/** A block of code or commands with a copy button; `label` names it for the button. */
export function CodeBlock({ code, label, caption, copy = code }: { code: string; label: string; caption?: ReactNode; copy?: string }) {
  return (
    <>
      {caption && (
        <div className="code-label">
          <span>{caption}</span>
        </div>
      )}
      <div className="code">
        <pre tabIndex={0} aria-label={label}>
          <code>{code}</code>
        </pre>
        <CopyButton text={copy} label={`Copy ${label}`} />
      </div>
    </>
  );
}

export function Digest({ digest, short = true }: { digest: string; short?: boolean }) {
  const [algorithm, hex = ''] = digest.split(':');
  return (
    <span className="digest">
      <code title={digest}>{short ? `${algorithm}:${hex.slice(0, 12)}` : digest}</code>
      <CopyButton text={digest} label="Copy digest" />
    </span>
  );
}
