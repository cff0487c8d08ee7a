// The line the desktop app's main process prints once it runs (electron/main/index.ts); `npm start`
// (scripts/start.js) waits for it to tell a running app from one that could not start. Plain
// JavaScript, so the launcher, which runs before anything is built, imports it as it is.

/** electron/main/index.ts prints a line starting with this once the app runs. */
export const READY_LINE = 'berth: the desktop app is running';
