import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

/**
 * The external programs a section runs (the real peers it measures against), each with the
 * Debian package that ships it. Checked before the section starts, so a box without one gets
 * a sentence naming the package instead of a child process's ENOENT halfway through a run.
 */
export function requireTools(tools: Record<string, string>): void {
  const dirs = (process.env.PATH ?? "").split(delimiter).filter((d) => d !== "");
  const missing = Object.entries(tools).filter(([bin]) =>
    !dirs.some((d) => {
      try {
        accessSync(join(d, bin), constants.X_OK);
        return true;
      } catch {
        return false;
      }
    }),
  );
  if (missing.length > 0) {
    throw new Error(`needs ${missing.map(([bin, pkg]) => `${bin} (Debian package ${pkg})`).join(", ")} on the PATH: apt-get install ${[...new Set(missing.map(([, pkg]) => pkg))].join(" ")}`);
  }
}
