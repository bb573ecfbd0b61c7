/**
 * The `reason` labels of the device-trust counters (issue 9), typed like the
 * broker-limit reasons (limit-reasons.ts): the callers take these types, so a
 * reason missing here does not compile, and every listed reason is exported
 * at 0 from the first scrape (known-labels.ts). docs/drop-reasons.md documents
 * each one; test/unit/drop-reasons.test.ts keeps the two in step.
 */
export const MQTT_AUTH_REFUSED_REASONS = {
  bad_credentials: "CONNECT's user name is not in `mqtt.auth.password_file` or its password does not match; CONNACK 0x04.",
  anonymous_not_allowed: "CONNECT without usable credentials (no user name, no password file, or no client certificate where `use_identity_as_username` needs one) while `mqtt.auth.allow_anonymous` is false; CONNACK 0x05.",
  identifier_rejected: "A zero-byte client id with CleanSession=0 (MQTT 3.1.1 §3.1.3); CONNACK 0x02.",
  client_id_in_use: "The client id belongs to another identity (connected, or owning a persistent session); CONNACK 0x05.",
} as const;
export type MqttAuthRefusedReason = keyof typeof MQTT_AUTH_REFUSED_REASONS;

export const MQTT_ACL_REFUSED_REASONS = {
  acl_deny: "A `deny` rule of `mqtt.auth.acl_file` matched the topic (also counted for `POST /api/v1/push`).",
  acl_no_match: "No rule of `mqtt.auth.acl_file` grants the access (also counted for `POST /api/v1/push`).",
  dangerous_identity: "A user name or client id holding `+` or `#` met a `pattern` rule (it would widen `%u`/`%c`), so the pattern grants nothing.",
  reserved_topic: "A `$SYS` topic: never writable, never readable by anonymous clients.",
} as const;
export type MqttAclRefusedReason = keyof typeof MQTT_ACL_REFUSED_REASONS;
/** The `action` label of edgegate_mqtt_acl_refusals_total. */
export const MQTT_ACL_ACTIONS = ["publish", "subscribe", "read"] as const;

export const HTTP_AUTH_REFUSED_REASONS = {
  missing_credentials: "An HTTP request without basic-auth credentials while `http.basic_auth_users` is set; 401.",
  bad_credentials: "An HTTP request whose basic-auth user name or password does not match `http.basic_auth_users`; 401.",
  client_certificate: "An HTTPS connection without the client certificate `http.tls_server_config.client_auth_type` requires; closed.",
} as const;
export type HttpAuthRefusedReason = keyof typeof HTTP_AUTH_REFUSED_REASONS;

/** Counter name → its reasons (single `reason` label), for the docs test and known-labels. */
export const AUTH_REASON_COUNTERS = {
  edgegate_mqtt_auth_refusals_total: MQTT_AUTH_REFUSED_REASONS,
  edgegate_http_auth_refusals_total: HTTP_AUTH_REFUSED_REASONS,
} as const;
