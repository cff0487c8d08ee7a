/**
 * One Berth per user: the registry's data directory (and its nedb index) must have one owner. A
 * second launch hands over to the first, which shows its window, and quits.
 */

/** The parts of Electron's app used here. */
export interface SingleInstanceApp {
  requestSingleInstanceLock(): boolean;
  on(event: 'second-instance', listener: () => void): unknown;
  quit(): void;
}

/** True when this is the only instance; otherwise asks this one to quit and returns false. */
export function claimSingleInstance(app: SingleInstanceApp, onSecondInstance: () => void): boolean {
  if (!app.requestSingleInstanceLock()) {
    app.quit();
    return false;
  }
  app.on('second-instance', onSecondInstance);
  return true;
}
