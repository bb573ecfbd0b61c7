import { z } from "zod";
import { duration } from "./schema-common.js";

export const storageSchema = z
  .strictObject({
    path: z.string().min(1).default("./data/edgegate.db").describe("SQLite file of the store-and-forward outbox (WAL mode); its folder is created if missing."),
    flush_interval: duration("How often samples leaving the pipeline are committed to the outbox as encoded Remote-Write batches.").default("1s"),
  })
  .describe("The SQLite outbox that holds encoded batches until the receiver acknowledges them.");
