import type { MqttSessionRemovedReason } from "../metrics/limit-reasons.js";

/**
 * Bounds on persistent sessions (issue 10): a client id that connected with
 * clean_session=0 keeps its subscriptions, its queue and its QoS 2 state in
 * the broker after it disconnects. Unbounded, a connect storm of distinct
 * client ids grew memory for good. Mosquitto's `persistent_client_expiration`
 * removes a session not reconnected within a duration; `max_persistent_sessions`
 * is a hard cap on top, removing the session offline the longest first.
 *
 * A session is online while its client is connected; online sessions are
 * never removed here (their memory is bounded by max_connections and the
 * per-client bounds). `remove` must release everything the persistence keeps
 * for the client id (subscriptions, queue, inbound QoS 2 packets).
 */
export interface SessionLimits {
  /** Milliseconds an offline session is kept; 0 = for ever. */
  expiration: number;
  /** Most persistent sessions (online and offline); 0 = no limit. */
  maxSessions: number;
}

export interface SessionEvents {
  remove(clientId: string): void;
  removed(reason: MqttSessionRemovedReason): void;
  level(sessions: number): void;
}

export class PersistentSessions {
  private readonly online = new Set<string>();
  /** Offline sessions, oldest disconnect first (Map keeps insertion order). */
  private readonly offline = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly limits: SessionLimits,
    private readonly events: SessionEvents,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.online.size + this.offline.size;
  }

  /** A client connected. clean=false creates or resumes its session; clean=true ends any it had. */
  connected(clientId: string, clean: boolean): void {
    this.offline.delete(clientId);
    if (clean) {
      // The broker itself discarded the stored session on this connect [MQTT-3.1.2-6].
      this.online.delete(clientId);
    } else {
      this.online.add(clientId);
      this.enforceCap();
    }
    this.report();
  }

  /** A client disconnected; a persistent session starts its offline time. */
  disconnected(clientId: string, clean: boolean): void {
    if (clean || !this.online.delete(clientId)) return;
    this.offline.set(clientId, this.now());
    this.enforceCap();
    this.schedule();
    this.report();
  }

  /** Removes the offline sessions whose expiration has passed and re-arms the timer for the next one. */
  sweep(): void {
    const exp = this.limits.expiration;
    if (exp > 0) {
      const cutoff = this.now() - exp;
      for (const [id, since] of this.offline) {
        if (since > cutoff) break;
        this.drop(id, "expired");
      }
    }
    this.schedule();
    this.report();
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private enforceCap(): void {
    const max = this.limits.maxSessions;
    if (max <= 0) return;
    // Online sessions are never removed: if every session is online the count may
    // exceed the cap until one of them goes offline, which then evicts at once.
    for (const id of this.offline.keys()) {
      if (this.size <= max) break;
      this.drop(id, "max_persistent_sessions");
    }
  }

  private drop(clientId: string, reason: MqttSessionRemovedReason): void {
    this.offline.delete(clientId);
    this.events.remove(clientId);
    this.events.removed(reason);
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const exp = this.limits.expiration;
    const first = this.offline.values().next();
    if (exp <= 0 || first.done) return;
    // setTimeout caps at 2^31-1 ms (~24.8 days); a longer wait re-arms on firing.
    const wait = Math.min(Math.max(first.value + exp - this.now(), 0) + 1, 2 ** 31 - 1);
    this.timer = setTimeout(() => this.sweep(), wait);
    this.timer.unref();
  }

  private report(): void {
    this.events.level(this.size);
  }
}
