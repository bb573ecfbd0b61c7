import { z } from "zod";
import { parseDuration } from "../prom/duration.js";
import { parseListen } from "./listen-address.js";
import { LABEL_NAME_RE } from "../prom/sample.js";

/** Building blocks shared by the config schema modules. */

export const duration = (desc: string) =>
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

/** A listen address, checked by the parser that binds it (`parseListen`). */
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
