import { createRequire } from "node:module";

/**
 * Fastify's JSON-schema validator (ajv) and serializer (fast-json-stringify)
 * builders, loaded when a route with a schema first needs them instead of when
 * the server is made. The gateway's routes declare no schemas, so a running
 * gateway keeps about 0.5 MB of library source and its compiled code out of
 * memory; a route that adds a schema gets the very builders fastify would
 * have used (resolved from fastify's own dependencies).
 */
const fromFastify = createRequire(createRequire(import.meta.url).resolve("fastify"));

type Builder = (externalSchemas: unknown, options: unknown) => unknown;

export const lazySchemaController = {
  compilersFactory: {
    buildValidator: ((externalSchemas, options) => (fromFastify("@fastify/ajv-compiler") as () => Builder)()(externalSchemas, options)) as Builder,
    buildSerializer: ((externalSchemas, options) => (fromFastify("@fastify/fast-json-stringify-compiler") as () => Builder)()(externalSchemas, options)) as Builder,
  },
};
