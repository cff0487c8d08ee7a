// How `npm start` decides between the desktop app and the headless server (scripts/start.js).
// Plain functions, unit-tested in test/electron/launch.test.ts.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

// The app's ready line lives with the app (the main bundle must not reach into scripts/).
export { READY_LINE } from '../electron/shared/ready.js';

/** Why Electron cannot start here, decided without starting it; null when it may. */
export function electronProblem({ env, platform, electronDir }) {
  if (env.ELECTRON_RUN_AS_NODE) return 'ELECTRON_RUN_AS_NODE is set, so Electron would run as plain Node';
  if (platform === 'linux' && !env.DISPLAY && !env.WAYLAND_DISPLAY) return 'there is no display: DISPLAY and WAYLAND_DISPLAY are unset';
  if (!electronDir) return 'the electron package is not installed (run npm install)';
  return null;
}

/**
 * Why this Node.js cannot fetch Electron's binary, or null. The electron package downloads it with
 * its own tooling (@electron/get and friends), which declares the Node.js it needs in the package's
 * "engines" field (Electron 45: >= 22.12.0, for require() of ES modules among others). The headless
 * server needs less (package.json "engines"), so an older Node runs that instead.
 */
export function electronNodeProblem(electronDir, nodeVersion = process.versions.node) {
  let wanted;
  try {
    wanted = JSON.parse(readFileSync(path.join(electronDir, 'package.json'), 'utf8')).engines?.node;
  } catch {
    return null;
  }
  const minimum = /(\d+)\.(\d+)\.(\d+)/.exec(wanted ?? '');
  if (!minimum) return null;
  const have = nodeVersion.replace(/^v/, '').split('.').map(Number);
  const need = minimum.slice(1).map(Number);
  const older = have[0] !== need[0] ? have[0] < need[0] : have[1] !== need[1] ? have[1] < need[1] : have[2] < need[2];
  if (!older) return null;
  return `downloading Electron needs Node.js ${need.join('.')} or newer, this is ${have.join('.')}: install Node.js ${need[0]} LTS or newer`;
}

/** Where the electron package is installed, or null. */
export function findElectronDir(fromDir) {
  try {
    return path.dirname(createRequire(path.join(fromDir, 'package.json')).resolve('electron/package.json'));
  } catch {
    return null;
  }
}

/**
 * The Electron executable once its binary is downloaded, else null. The electron package records
 * the executable's path inside its dist/ folder in path.txt (written by its install.js).
 */
export function electronBinary(electronDir, env = process.env) {
  let relative;
  try {
    relative = readFileSync(path.join(electronDir, 'path.txt'), 'utf8');
  } catch {
    return null;
  }
  const binary = env.ELECTRON_OVERRIDE_DIST_PATH ? path.join(env.ELECTRON_OVERRIDE_DIST_PATH, relative) : path.join(electronDir, 'dist', relative);
  return existsSync(binary) ? binary : null;
}

/**
 * What to do when the Electron process has exited: an exit before the app said it runs, other than
 * a clean one (a second instance hands over to the first and exits 0) or one the user asked for
 * (Ctrl-C), means Electron cannot run here (missing system libraries, a sandbox it may not use).
 */
export function afterElectronExit({ code, signal, ready, interrupted }) {
  if (ready || interrupted) return 'exit';
  if (code === 0 && !signal) return 'exit';
  return 'fallback';
}
