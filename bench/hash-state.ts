/**
 * How an upload's sha256 survives a restart on a shared store (server/registry/digester.ts), measured
 * on 1 GiB: Node's hash (cannot be saved), hash-wasm's (saved with each persisted chunk), and the
 * alternative of re-hashing at completion, which reads the whole blob back from the store.
 *   npx tsx bench/hash-state.ts --endpoint http://127.0.0.1:5300 --bucket berth-bench   (credentials: AWS_*)
 */
import { createHash, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { savableUploadHash } from '../server/registry/digester.ts';
import { S3Driver } from '../server/storage/driver/s3.ts';
import { DEFAULT_PART_BYTES } from '../server/storage/config.ts';

const { values } = parseArgs({ options: { endpoint: { type: 'string' }, bucket: { type: 'string', default: 'berth-bench' }, gib: { type: 'string', default: '1' } } });
const bytes = Number(values.gib) * 1024 ** 3;
const chunk = randomBytes(1024 * 1024);
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };

function timeNode(): { seconds: number; cpu: number } {
  const c = cpu(); const t = performance.now();
  const h = createHash('sha256');
  for (let n = 0; n < bytes; n += chunk.length) h.update(chunk);
  h.digest();
  return { seconds: (performance.now() - t) / 1000, cpu: cpu() - c };
}

async function timeWasm(): Promise<{ seconds: number; cpu: number; saves: number }> {
  const c = cpu(); const t = performance.now();
  const h = await savableUploadHash('sha256');
  let saves = 0;
  for (let n = 0; n < bytes; n += chunk.length) {
    h.update(chunk);
    // A save per persisted part (every 16 MiB), as a chunked upload of 16 MiB PATCHes would do.
    if ((n + chunk.length) % DEFAULT_PART_BYTES === 0) { h.save(); saves++; }
  }
  h.digest();
  return { seconds: (performance.now() - t) / 1000, cpu: cpu() - c, saves };
}

async function timeReread(): Promise<{ seconds: number; cpu: number } | null> {
  if (!values.endpoint) return null;
  const driver = new S3Driver({ endpoint: values.endpoint, bucket: values.bucket!, region: 'us-east-1', prefix: `hash-bench-${Date.now()}`, forcePathStyle: true, accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? null, secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? null, partBytes: DEFAULT_PART_BYTES, createBucket: true });
  await driver.check();
  const writer = await driver.writer('blob/data');
  for (let n = 0; n < bytes; n += chunk.length) if (!writer.sink.write(chunk)) await new Promise((r) => writer.sink.once('drain', r));
  writer.sink.end();
  await writer.commit('blob/whole');
  const c = cpu(); const t = performance.now();
  const h = createHash('sha256');
  for await (const piece of (await driver.readStream('blob/whole'))!) h.update(piece as Buffer);
  h.digest();
  const result = { seconds: (performance.now() - t) / 1000, cpu: cpu() - c };
  await driver.deleteAll('blob');
  await driver.close();
  return result;
}

const node = timeNode();
const wasm = await timeWasm();
const reread = await timeReread();
console.log(JSON.stringify({ gib: Number(values.gib), node, wasm, reread }, null, 2));
