/** A bad setting, said in one line naming where it came from (a flag, a variable, a config file key). */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}
