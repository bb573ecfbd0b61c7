import pkg from "../package.json" with { type: "json" };

export const VERSION: string = pkg.version;
/** Remote-Write 1.0: the sender MUST send a User-Agent naming itself and its version. */
export const USER_AGENT = `edgegate/${VERSION}`;
