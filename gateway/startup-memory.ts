import v8 from "node:v8";

/**
 * Imported first by the process entry point, before any library loads.
 *
 * V8 grows the young generation (the "semi-spaces") from 1 MB towards 16 MB
 * when many allocations survive, which is exactly what loading a few hundred
 * modules at startup looks like; it never gives the space back, so an idle
 * gateway would keep ~16 MB of young generation it no longer uses. Keeping the
 * semi-space at its initial size costs an idle or moderately loaded gateway
 * nothing measurable (`npm run bench -- footprint` records both figures) and is
 * what `--max-semi-space-size=1` in the systemd unit does. An operator who sets
 * a semi-space flag in NODE_OPTIONS or on the command line keeps that choice.
 */
export const SEMI_SPACE_FLAG = /^--(max-semi-space-size|min-semi-space-size|semi-space-growth-factor)\b/;

export function operatorChoseSemiSpace(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  return [...execArgv, ...(nodeOptions ?? "").split(/\s+/)].some((a) => SEMI_SPACE_FLAG.test(a.replace(/_/g, "-")));
}

/**
 * Sets the flag (again): starting a worker thread resets V8's runtime flags to
 * those Node was started with, so whoever starts one calls this once it runs.
 */
export function keepYoungGenerationSmall(): void {
  if (!operatorChoseSemiSpace(process.execArgv, process.env.NODE_OPTIONS)) v8.setFlagsFromString("--semi-space-growth-factor=1");
}

/**
 * V8 lets the old generation grow to up to 4× what survived the last full
 * collection before it collects again. Under sustained ingest the old
 * generation fills with objects that lived just long enough to be promoted
 * (a message waiting for its journal commit, the socket chunk holding it) and
 * are garbage by the next full collection: flink demo, 10,000 connections at
 * 30k events/s, ~120 MB live grew to ~190 MB of heap plus ~55 MB of dead
 * socket chunks held outside it (peak RSS 380 MB). Growing by at most 30 %
 * over what is live bounds both: peak RSS 300 MB there, for one more full
 * collection every few seconds (mostly incremental and concurrent:
 * `npm run bench -- flink-demo` records the CPU). An operator who sizes the
 * old generation (NODE_OPTIONS or the command line) keeps that choice.
 */
export const OLD_SPACE_FLAG = /^--(heap-growing-percent|max-old-space-size|max-heap-size)\b/;
export const HEAP_GROWING_PERCENT = 30;

export function operatorChoseOldSpace(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  return [...execArgv, ...(nodeOptions ?? "").split(/\s+/)].some((a) => OLD_SPACE_FLAG.test(a.replace(/_/g, "-")));
}

/** Both settings (again after a worker thread started: it resets V8's runtime flags). */
export function keepHeapSmall(): void {
  keepYoungGenerationSmall();
  if (!operatorChoseOldSpace(process.execArgv, process.env.NODE_OPTIONS)) v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}

keepHeapSmall();
