/** The device-sim library surface used by tests and benchmarks. */
export { startFleet, type Fleet, type FleetOptions, type FleetStats } from "./fleet.js";
export { generateMessages, createSimVehicle, createSimVehicles, type GeneratedMessage, type SimVehicle } from "./messages.js";
export { initialState, step, toPayload, IDLE_RPM, LIMITS, type Phase, type TelemetryPayload, type VehicleState } from "./vehicle.js";
export { MODELS, SPEED_CAP_KMH, fleetAt, type Powertrain } from "./catalog.js";
export { makeVin, isValidVin, VIN_ALPHABET } from "./vin.js";
export { createRng, deriveSeed, type Rng } from "./rng.js";
export { createFlinkGenerator, flinkRegion, flinkTopic, flinkVehicleId, FLINK_REGIONS, type FlinkEvent } from "./flink-events.js";
export { createLinkModel, DEFAULT_CONNECTIVITY, type ConnectivityOptions, type OutageKind } from "./connectivity.js";
export { encodeReadings, MODES, type PayloadMode, type Reading } from "./payloads.js";
export { LedgerWriter, readLedger, mergeLedgers, type LedgerRecord } from "./ledger.js";
export { verify, formatReport, type VerifyOptions, type VerifyResult, type SeriesResult } from "./verify.js";
export { recompute, type Expected, type ExpectedSeries } from "./verify-expected.js";
