/**
 * Flotilla's formats and messages: one zod definition each gives the TS type,
 * the runtime validator and (via scripts/generate.ts) the JSON Schema.
 */
export * from "./common.js";
export * from "./duration.js";
export * from "./fleet.js";
export * from "./fleet-windows.js";
export * from "./agent-config.js";
export * from "./controller-config.js";
export * from "./api.js";
export * from "./conditions.js";
export * from "./release.js";
