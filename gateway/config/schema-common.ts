import { z } from "zod";
import { parseDuration } from "../prom/duration.js";
import { parseListen } from "./listen-address.js";
import { LABEL_NAME_RE } from "../prom/sample.js";

/** Building blocks shared by the config schema modules. */

/**
 * A Prometheus duration, written `500ms`, `10s`, `1h30m`, parsed here once:
 * the config's output holds milliseconds, so no stage parses a duration again.
 * Defaults are given as written (`.prefault("10s")`), and so documented.
 */
export const duration = (desc: string) =>
  z
    .string()
    .transform((s, ctx) => {
      try {
        return parseDuration(s);
      } catch {
        ctx.addIssue({ code: "custom", message: "not a valid duration (use e.g. 500ms, 10s, 5m, 1h30m)", input: s });
        return z.NEVER;
      }
    })
    .describe(desc);

/** A listen address, checked by the parser that binds it (`parseListen`). */
/**
 * A duration kept as written: aggregation `interval`s are part of the output
 * series' names (`:1m_by_fleet_avg`, as vmagent names them), so the rule keeps
 * the text the user chose. Validated here; the aggregation rule parses it.
 */
export const durationText = (desc: string) =>
  z
    .string()
    .refine(
      (s) => {
        try {
          parseDuration(s);
          return true;
        } catch {
          return false;
        }
      },
      { message: "not a valid duration (use e.g. 500ms, 10s, 5m, 1h30m)" },
    )
    .describe(desc);

export const hostPort = (desc: string) =>
  z
    .string()
    .superRefine((addr, ctx) => {
      try {
        parseListen(addr);
      } catch {
        ctx.addIssue({ code: "custom", message: "must be host:port with a port of 0-65535, e.g. 0.0.0.0:1883 or [::1]:1883" });
      }
    })
    .describe(desc);

/**
 * A key that names a file: relative paths are resolved against the config
 * file's folder (config/load.ts finds these keys through this mark, so a new
 * file key cannot be forgotten there).
 */
export const filePath = (desc: string) => z.string().min(1).meta({ description: desc, filePath: true });

export const labelName = z.string().regex(LABEL_NAME_RE, "must be a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)");
