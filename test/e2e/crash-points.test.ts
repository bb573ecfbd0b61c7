import { crashPointTests } from "../helpers/crash-points.js";

// Issue #11's crash points of the ingest journal and the outbox commit (the checkpoint written in the tick's transaction).
crashPointTests([
  { point: "mid_group_commit", after: 40, what: "journal rows written, transaction not committed" },
  { point: "after_journal_commit", after: 40, what: "journal committed, not processed, no PUBACK sent" },
  { point: "mid_outbox_commit", after: 8, what: "outbox rows, position and checkpoint written, not committed" },
  { point: "after_outbox_commit", after: 8, what: "outbox + checkpoint committed, not booked in memory" },
  { point: "during_replay", after: 2, kills: 1, replay: true, what: "start-up after a kill -9, part of the journal replayed" },
]);
