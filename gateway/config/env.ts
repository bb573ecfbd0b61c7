import { ConfigError } from "./config-error.js";

/**
 * `${NAME}` expansion of environment variables in the config text, before YAML
 * parsing, as Telegraf and vmagent (`-config.expand-env-vars`) do, so secrets
 * and per-site values can come from a systemd EnvironmentFile or a container's
 * environment. Only names that start with a letter or `_` are variables:
 * relabel replacements such as `${1}` and `$1` are left alone. `$$` is a
 * literal `$`. An unset variable is an error naming it and its line (a silent
 * empty string would, for example, send data unauthenticated). Whole-line YAML
 * comments are not expanded, so a commented-out example needs no variable.
 */
const TOKEN = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

export function expandEnv(text: string, source: string, env: NodeJS.ProcessEnv = process.env): string {
  if (!text.includes("$")) return text;
  const problems: string[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (!line.includes("$") || line.trimStart().startsWith("#")) continue;
    lines[i] = line.replace(TOKEN, (whole, name: string | undefined) => {
      if (name === undefined) return "$";
      const value = env[name];
      if (value === undefined) {
        problems.push(`line ${i + 1}: environment variable ${name} is not set (referenced as ${whole}; write $${whole} for a literal)`);
        return whole;
      }
      return value;
    });
  }
  if (problems.length > 0) throw new ConfigError(source, problems);
  return lines.join("\n");
}
