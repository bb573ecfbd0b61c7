/** The device-sim library surface used by tests and benchmarks. */
export { startFleet, type Fleet, type FleetOptions, type FleetStats } from "./fleet.js";
export { generateMessages, createSimVehicle, createSimVehicles, type GeneratedMessage, type SimVehicle } from "./messages.js";
export { initialState, step, toPayload, IDLE_RPM, LIMITS, type Phase, type TelemetryPayload, type VehicleState } from "./vehicle.js";
export { MODELS, SPEED_CAP_KMH, fleetAt } from "./catalog.js";
export { makeVin, isValidVin, VIN_ALPHABET } from "./vin.js";
export { createRng, deriveSeed, type Rng } from "./rng.js";
