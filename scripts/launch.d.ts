// Types of scripts/launch.js for the tests that import it.
export declare const READY_LINE: string;
export declare function electronProblem(options: { env: NodeJS.ProcessEnv; platform: NodeJS.Platform; electronDir: string | null }): string | null;
export declare function electronNodeProblem(electronDir: string, nodeVersion?: string): string | null;
export declare function findElectronDir(fromDir: string): string | null;
export declare function electronBinary(electronDir: string, env?: NodeJS.ProcessEnv): string | null;
export declare function afterElectronExit(options: { code: number | null; signal: NodeJS.Signals | null; ready: boolean; interrupted: boolean }): 'exit' | 'fallback';
