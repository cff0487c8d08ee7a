/**
 * The self-test: Berth pushes a tiny image to itself and pulls it back, step by step; or, with `run`,
 * another streamed test (the mirror's: an image pulled through the pull-through cache).
 */
import { useState } from 'react';
import { CircleCheck, CircleDashed, CircleMinus, CircleX, Play } from 'lucide-react';
import type { SelfTestStep, SelfTestSummary } from '../../server/registry/api-types.ts';
import { api } from '../api.ts';

const ICON = { passed: CircleCheck, failed: CircleX, skipped: CircleMinus, running: CircleDashed } as const;
const SAID = { passed: 'passed', failed: 'failed', skipped: 'skipped', running: 'running' } as const;

export function SelfTest({ run: start = api.selfTest, label = 'Run self-test' }: {
  run?: (onStep: (step: SelfTestStep) => void) => Promise<SelfTestSummary>;
  label?: string;
} = {}) {
  const [steps, setSteps] = useState<SelfTestStep[]>([]);
  const [running, setRunning] = useState(false);
  const [summary, setSummary] = useState<SelfTestSummary | null>(null);
  const [error, setError] = useState<string | null>(null);

  async function run() {
    setRunning(true);
    setSteps([]);
    setSummary(null);
    setError(null);
    try {
      const result = await start((step) => setSteps((list) => [...list.filter((s) => s.step !== step.step), step].sort((a, b) => a.step - b.step)));
      setSummary(result);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setRunning(false);
    }
  }

  return (
    <div>
      <div className="actions" style={{ marginBottom: steps.length ? 12 : 0 }}>
        <button type="button" className="primary" onClick={run} disabled={running}>
          {running ? <span className="spinner" aria-hidden /> : <Play size={15} aria-hidden />}
          {running ? 'Testing…' : summary ? 'Run again' : label}
        </button>
        {summary && (
          <span role="status" className={summary.ok ? 'status-passed' : 'status-failed'} data-testid="self-test-result" style={{ fontWeight: 600 }}>
            {summary.ok ? `All steps passed in ${(summary.ms / 1000).toFixed(1)} s` : 'The self-test failed: see the step marked ✕'}
          </span>
        )}
      </div>
      {error && (
        <p className="callout bad" role="alert">
          {error}
        </p>
      )}
      {steps.length > 0 && (
        <ol className="steps" aria-label="Self-test steps" aria-live="polite">
          {steps.map((s) => {
            const Icon = ICON[s.status];
            return (
              <li key={s.step} data-step={s.id} data-status={s.status}>
                <Icon size={18} className={`status-${s.status}`} aria-label={SAID[s.status]} />
                <div>
                  <div>{s.title}</div>
                  {s.detail && <div className="step-detail">{s.detail}</div>}
                </div>
                <span className="faint nowrap">{s.ms !== undefined ? `${s.ms} ms` : ''}</span>
              </li>
            );
          })}
        </ol>
      )}
    </div>
  );
}
