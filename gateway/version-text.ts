import { buildInfo } from "./metrics/build-info.js";

/** `edgegate --version`, in the shape of Prometheus's: name, version, revision, then the runtime. */
export function versionText(): string {
  const b = buildInfo();
  return `edgegate, version ${b.version} (revision: ${b.revision})\n  node version:     ${b.node_version}\n  platform:         ${process.platform}/${process.arch}`;
}
