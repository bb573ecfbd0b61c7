/** A config that cannot be used; `problems` are one line each, naming the key path and the bad value. */
export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`${source}: invalid configuration:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
  }
}
