/**
 * The thread that runs bcrypt (password-pool.ts): one job at a time, synchronously, so the server's
 * event loop never spends the 50-100 ms a bcryptjs comparison costs.
 */
import { parentPort } from 'node:worker_threads';
import bcrypt from 'bcryptjs';
import type { PasswordJob, PasswordResult } from './password-pool.ts';

parentPort!.on('message', (job: PasswordJob) => {
  let answer: PasswordResult;
  try {
    answer = job.op === 'hash'
      ? { id: job.id, value: bcrypt.hashSync(job.password, job.cost) }
      : { id: job.id, value: bcrypt.compareSync(job.password, job.hash) };
  } catch (err) {
    answer = { id: job.id, error: (err as Error).message };
  }
  parentPort!.postMessage(answer);
});
