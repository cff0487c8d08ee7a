// `npm start`: the desktop app where it can run; until it exists (and wherever it cannot start),
// the headless server, saying so first.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const berth = fileURLToPath(new URL('../bin/berth.js', import.meta.url));
console.log('berth: the desktop app is not part of this build; running the headless server (npx berth serve)');
const child = spawn(process.execPath, [berth, 'serve', ...process.argv.slice(2)], { stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
