export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file}: ${problems.length} problem(s) in the configuration:\n  - ${problems.join("\n  - ")}`);
    this.name = "ConfigError";
  }
}
