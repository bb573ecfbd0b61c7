import type { Client, AuthenticateError, AedesPublishPacket, PublishPacket, Subscription } from "aedes";
import type { Logger } from "pino";
import type { Config } from "../../config/schema.js";
import type { Metrics } from "../../metrics/catalogue.js";
import { PasswordFile } from "./password-file.js";
import { AclFile, type AclDecision, type Access } from "./acl.js";
import { allowAnonymous } from "../../config/mqtt-security-view.js";
import type { MqttAuthRefusedReason } from "../../metrics/auth-reasons.js";

/** How a connection reached the broker, recorded by the listener before CONNECT is read. */
export interface ConnInfo {
  transport: "tcp" | "tls" | "ws" | "wss";
  /** Subject CN of a client certificate the TLS layer verified against mqtt.tls.client_ca_file. */
  certIdentity: string | null;
}

/** Who a connected client is: `username` null = anonymous (never trusted for `%u`). */
export interface Identity {
  username: string | null;
  via: "password" | "certificate" | "anonymous";
}

/** MQTT 3.1.1 CONNACK return codes (3.2.2.3). */
const IDENTIFIER_REJECTED = 2;
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;
/** Persistent sessions whose owner is remembered (an attacker cycling client ids must not grow memory without bound). */
const MAX_SESSION_OWNERS = 100_000;

function refusal(returnCode: number, message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

/** At most one log line per reason per interval, with the number suppressed since the last one. */
export class RateLimitedLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();
  constructor(
    private readonly log: Logger,
    private readonly intervalMs = 10_000,
  ) {}

  warn(reason: string, fields: Record<string, unknown>, msg: string): void {
    const now = Date.now();
    const e = this.last.get(reason);
    if (e && now - e.at < this.intervalMs) {
      e.suppressed++;
      return;
    }
    this.log.warn({ ...fields, reason, suppressed: e?.suppressed ?? 0 }, msg);
    this.last.set(reason, { at: now, suppressed: 0 });
  }
}

type MqttConfig = Config["mqtt"];

/**
 * Device authentication and authorisation for the embedded broker, with
 * Mosquitto's semantics: password file, ACL file, client-certificate identity,
 * `allow_anonymous`. Exposes aedes's hooks as plain methods so the broker can
 * compose them (e.g. run the ACL check, then a durable journal write).
 */
export class DeviceAuth {
  private readonly passwords: PasswordFile | null;
  private readonly acl: AclFile | null;
  private readonly identities = new WeakMap<Client, Identity>();
  private readonly conns = new WeakMap<object, ConnInfo>();
  private readonly emptyId = new WeakSet<Client>();
  /** Client id → identity that owns its persistent session (CleanSession=0), so another identity cannot take it over. */
  private readonly sessionOwners = new Map<string, string | null>();
  private readonly refusalLog: RateLimitedLog;
  private connected: (clientId: string) => Client | undefined = () => undefined;
  private readonly anonymous: boolean;

  constructor(
    private readonly mqtt: MqttConfig,
    private readonly metrics: Metrics,
    log: Logger,
  ) {
    this.refusalLog = new RateLimitedLog(log);
    this.anonymous = allowAnonymous(mqtt);
    const reload = (file: string) => (err: Error | null, n: number) => {
      metrics.authFileReloads.inc({ file, result: err ? "failure" : "success" });
      if (err) log.error({ err: err.message, file }, `${file} reload failed; keeping the previous data`);
      else log.info({ file, ...(file === "password_file" ? { users: n } : {}) }, `${file} loaded`);
    };
    this.passwords = mqtt.auth.password_file ? new PasswordFile(mqtt.auth.password_file, { onReload: reload("password_file") }) : null;
    this.acl = mqtt.auth.acl_file ? new AclFile(mqtt.auth.acl_file, { onReload: reload("acl_file") }) : null;
  }

  /** Loads the files (throws when one is missing or invalid) and starts watching them. */
  start(connected: (clientId: string) => Client | undefined): void {
    this.connected = connected;
    this.passwords?.load();
    this.acl?.load();
    this.passwords?.start();
    this.acl?.start();
  }

  close(): void {
    this.passwords?.close();
    this.acl?.close();
  }

  /** Re-reads changed files now (tests and the reload endpoint use it instead of waiting for the poll). */
  reloadNow(): void {
    this.passwords?.reloadIfChanged();
    this.acl?.reloadIfChanged();
  }

  /** Summary for /api/v1/status and the start-up log. */
  describe(): { allow_anonymous: boolean; password_file: string | null; users: number; acl_file: string | null } {
    return {
      allow_anonymous: this.anonymous,
      password_file: this.passwords?.path ?? null,
      users: this.passwords?.size() ?? 0,
      acl_file: this.acl?.path ?? null,
    };
  }

  noteConnection(client: Client, info: ConnInfo): void {
    this.conns.set(client, info);
  }

  identityOf(client: Client): Identity | undefined {
    return this.identities.get(client);
  }

  private refuse(reason: MqttAuthRefusedReason, fields: Record<string, unknown>, returnCode: number, message: string): AuthenticateError {
    this.metrics.mqttAuthRefusals.inc({ reason });
    this.refusalLog.warn(`connect:${reason}`, fields, `mqtt connect refused: ${message}`);
    return refusal(returnCode, message);
  }

  /** aedes `preConnect`: remembers what `authenticate` cannot see (the ClientId as sent). */
  preConnect(client: Client, packet: { clientId: string }): void {
    if (packet.clientId === "") this.emptyId.add(client);
  }

  /** aedes `authenticate`: password file, client certificate, anonymous; then the session-ownership rule. */
  authenticate(client: Client, username: string | undefined, password: Buffer | undefined, done: (err: AuthenticateError | null, ok: boolean | null) => void): void {
    this.identify(client, username, password).then(
      (r) => {
        if (r instanceof Error) return done(r, null);
        this.identities.set(client, r);
        if (!client.clean) {
          // Bounded like the broker's own session store should be: the oldest entry goes first.
          if (this.sessionOwners.size >= MAX_SESSION_OWNERS && !this.sessionOwners.has(client.id)) this.sessionOwners.delete(this.sessionOwners.keys().next().value!);
          this.sessionOwners.set(client.id, r.username);
        } else this.sessionOwners.delete(client.id);
        done(null, true);
      },
      (err: unknown) => done(refusal(3, `authentication failed: ${(err as Error).message}`), null),
    );
  }

  private async identify(client: Client, username: string | undefined, password: Buffer | undefined): Promise<Identity | AuthenticateError> {
    const conn = this.conns.get(client);
    const remote = { client: client.id, transport: conn?.transport };
    // [MQTT-3.1.3-8]: a zero-byte ClientId with CleanSession=0 gets CONNACK 0x02 and the connection is closed.
    if (this.emptyId.has(client) && !client.clean) {
      return this.refuse("identifier_rejected", remote, IDENTIFIER_REJECTED, "a zero-byte client id requires CleanSession=1");
    }
    let identity: Identity;
    const tls = this.mqtt.tls;
    if (conn?.certIdentity && tls?.use_identity_as_username) {
      // As Mosquitto's use_identity_as_username: the certificate is the credential; CONNECT's user name and password are ignored.
      identity = { username: conn.certIdentity, via: "certificate" };
    } else if (username !== undefined && this.passwords) {
      if (password === undefined || !(await this.passwords.verify(username, password))) {
        return this.refuse("bad_credentials", { ...remote, username }, BAD_USERNAME_OR_PASSWORD, "bad user name or password");
      }
      identity = { username, via: "password" };
    } else if (this.anonymous) {
      // Without a password file a user name proves nothing: the client is anonymous (its name is not used for %u).
      identity = { username: null, via: "anonymous" };
    } else {
      const tlsCertNeeded = tls?.use_identity_as_username && conn && (conn.transport === "tls" || conn.transport === "wss");
      return this.refuse(
        "anonymous_not_allowed",
        remote,
        NOT_AUTHORIZED,
        tlsCertNeeded ? "a client certificate is required" : username === undefined ? "anonymous clients are not allowed" : "no password file to verify the user name",
      );
    }
    // A client id in use by another identity (connected, or owning a persistent session) is not
    // handed over: [MQTT-3.1.4-2]'s takeover is for the same device reconnecting, not for anyone.
    const owner = this.ownerOf(client.id);
    if (owner !== undefined && owner !== null && owner !== identity.username) {
      return this.refuse("client_id_in_use", { ...remote, username: identity.username }, NOT_AUTHORIZED, "client id belongs to another identity");
    }
    return identity;
  }

  /** The identity owning `clientId` (null = anonymous), or undefined when nobody does. */
  private ownerOf(clientId: string): string | null | undefined {
    const live = this.connected(clientId);
    if (live && !(live as unknown as { closed: boolean }).closed) {
      const id = this.identities.get(live);
      if (id) return id.username;
    }
    return this.sessionOwners.get(clientId);
  }

  private aclCheck(client: Client, topic: string, access: Access): AclDecision {
    const id = this.identities.get(client);
    if (topic.startsWith("$SYS")) {
      // The broker's own topics announce every client id: never to anonymous clients, and
      // never writable (aedes's default rule, kept here since this hook replaces it).
      if (access === "write" || !id || id.username === null) return { allowed: false, reason: "reserved_topic" };
    }
    if (!this.acl) return { allowed: true };
    return this.acl.current().check({ username: id?.username ?? null, clientId: client.id }, topic, access);
  }

  /** The publish ACL check on its own (synchronous), so the broker can run it before other publish hooks. */
  checkPublish(client: Client, packet: PublishPacket): Error | null {
    const d = this.aclCheck(client, packet.topic, "write");
    if (d.allowed) return null;
    const reason = d.reason as string;
    this.metrics.mqttAclRefusals.inc({ action: "publish", reason });
    this.refusalLog.warn(`publish:${reason}`, { client: client.id, username: this.identities.get(client)?.username ?? null, topic: packet.topic }, "mqtt publish refused by the ACL");
    return new Error(`not authorised to publish to ${packet.topic}`);
  }

  /** aedes `authorizeSubscribe`: a refused filter gets SUBACK 0x80 (callback with a null subscription). */
  authorizeSubscribe(client: Client, sub: Subscription, done: (err: Error | null, sub?: Subscription | null) => void): void {
    const id = this.identities.get(client);
    let d: AclDecision;
    if (sub.topic.startsWith("$SYS") && (!id || id.username === null)) d = { allowed: false, reason: "reserved_topic" };
    else if (!this.acl) d = { allowed: true };
    else d = this.acl.current().checkSubscribe({ username: id?.username ?? null, clientId: client.id }, sub.topic);
    if (d.allowed) return done(null, sub);
    this.metrics.mqttAclRefusals.inc({ action: "subscribe", reason: d.reason });
    this.refusalLog.warn(`subscribe:${d.reason}`, { client: client.id, username: id?.username ?? null, filter: sub.topic }, "mqtt subscription refused by the ACL");
    done(null, null);
  }

  /**
   * aedes `authorizeForward`: the read check per delivered message, as Mosquitto
   * does, so a subscription to `#` delivers only what this client may read.
   */
  authorizeForward(client: Client, packet: AedesPublishPacket): AedesPublishPacket | null {
    const d = this.aclCheck(client, packet.topic, "read");
    if (d.allowed) return packet;
    this.metrics.mqttAclRefusals.inc({ action: "read", reason: d.reason });
    return null;
  }

  /** Basic-auth credentials of `POST /api/v1/push` against the password file (null = refused). */
  async verifyPassword(username: string, password: string): Promise<Identity | null> {
    if (!this.passwords) return null;
    return (await this.passwords.verify(username, Buffer.from(password, "utf8"))) ? { username, via: "password" } : null;
  }

  /** The ACL write check of an HTTP push (`%c` is the user name there: a push has no client id). */
  checkPushWrite(identity: Identity, topic: string): AclDecision {
    if (topic.startsWith("$")) return { allowed: false, reason: "reserved_topic" };
    if (!this.acl) return { allowed: true };
    return this.acl.current().check({ username: identity.username, clientId: identity.username ?? "" }, topic, "write");
  }

  hasPasswordFile(): boolean {
    return this.passwords !== null;
  }
}
