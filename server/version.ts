/** Berth's version: injected by the build (scripts/build.js); "dev" when running from source. */
declare const BERTH_VERSION: string | undefined;

export const VERSION: string = typeof BERTH_VERSION === 'string' ? BERTH_VERSION : 'dev';
