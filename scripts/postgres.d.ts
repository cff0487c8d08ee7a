// Types of scripts/postgres.js for the tests and benchmarks that import it.
export interface TestPostgres {
  readonly port: number;
  readonly dir: string;
  url(database?: string): string;
  psql(sql: string, database?: string): Promise<Record<string, unknown>[]>;
  createDatabase(name: string): Promise<string>;
  stop(): Promise<void>;
  start(): Promise<void>;
  remove(): Promise<void>;
  postmasterPid(): Promise<number>;
}
export declare function postgresBinDir(): string | null;
export declare function startPostgres(options?: { fast?: boolean; maxConnections?: number; port?: number }): Promise<TestPostgres>;
