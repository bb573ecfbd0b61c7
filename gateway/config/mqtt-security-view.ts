/**
 * What the MQTT listeners expose and whether anonymous clients are accepted:
 * needed by the config validator and by the running gateway (which does not
 * load the validator), so free of zod.
 */

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[?::1\]?|localhost)$/i;

/** True for an address that only this machine can reach ("" = disabled counts as not exposed). */
export function isLoopbackListen(listen: string): boolean {
  if (listen === "") return true;
  const host = listen.slice(0, listen.lastIndexOf(":"));
  return LOOPBACK.test(host);
}

export interface MqttSecurityView {
  listen: string;
  tls?: { listen: string; cert_file: string; client_ca_file?: string; require_certificate: boolean; use_identity_as_username: boolean };
  websocket?: { listen: string; tls: boolean };
  auth: { allow_anonymous?: boolean | undefined; password_file?: string | undefined };
}

/** Whether a client with no verified identity is accepted (see mqtt.auth.allow_anonymous). */
export function allowAnonymous(m: MqttSecurityView): boolean {
  if (m.auth.allow_anonymous !== undefined) return m.auth.allow_anonymous;
  return exposedListeners(m).length === 0 && !hasAuthMethod(m);
}

export function hasAuthMethod(m: MqttSecurityView): boolean {
  return m.auth.password_file !== undefined || (m.tls?.use_identity_as_username ?? false);
}

export function exposedListeners(m: MqttSecurityView): string[] {
  const exposed: string[] = [];
  if (!isLoopbackListen(m.listen)) exposed.push(`mqtt.listen "${m.listen}"`);
  if (m.tls && !isLoopbackListen(m.tls.listen)) exposed.push(`mqtt.tls.listen "${m.tls.listen}"`);
  if (m.websocket && !isLoopbackListen(m.websocket.listen)) exposed.push(`mqtt.websocket.listen "${m.websocket.listen}"`);
  return exposed;
}
