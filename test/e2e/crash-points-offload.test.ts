import { crashPointTests, OFFLOAD } from "../helpers/crash-points.js";

// Issue #11's crash points of a checkpoint written off the event loop (blob on the writer thread, then the tick's transaction referring to it).
crashPointTests([
  { point: "mid_checkpoint_blob", after: 3, env: OFFLOAD, what: "checkpoint blob written on the writer thread, not committed" },
  { point: "after_checkpoint_blob", after: 3, env: OFFLOAD, what: "checkpoint blob committed; the tick's outbox rows and the row referring to the blob not" },
  { point: "after_outbox_commit", after: 8, env: OFFLOAD, what: "checkpoint off the event loop: outbox + the row referring to its blob committed, not booked in memory" },
]);
