import { createRequire } from "node:module";
import type { MqttQueueDroppedReason, MqttRetainedRefusedReason } from "../metrics/limit-reasons.js";

// aedes-persistence is CommonJS whose typings declare an ES default export; load it as CommonJS.
const memory = createRequire(import.meta.url)("aedes-persistence") as (() => object) & { Packet: new (packet: object) => object };

/**
 * aedes's in-memory persistence with bounds (issue 10): retained messages
 * (count and bytes, or none) and the queues of persistent sessions (messages
 * and bytes per client, oldest dropped). Unbounded, ten retained 10 MB messages
 * stayed in memory for good and five offline sessions queued ~2 MB/s each.
 *
 * The retained store and the subscription trie stay aedes-persistence's own;
 * the outgoing queues are kept here (aedes-persistence's are private and
 * cannot drop their oldest entry), with the same semantics as its
 * MemoryPersistence: enqueue, update (message id assigned on delivery),
 * clear on PUBACK, stream on reconnect.
 */
export interface PersistenceLimits {
  retainAvailable: boolean;
  /** 0 = no limit (the same for every bound below). */
  maxRetainedMessages: number;
  maxRetainedBytes: number;
  maxQueuedMessages: number;
  maxQueuedBytes: number;
}

export interface PersistenceEvents {
  retainedRefused(reason: MqttRetainedRefusedReason): void;
  queueDropped(reason: MqttQueueDroppedReason, messages: number): void;
  /** Levels changed: retained (messages, bytes), queued (messages, bytes). */
  levels(retained: number, retainedBytes: number, queued: number, queuedBytes: number): void;
}

interface MqttPacket {
  topic: string;
  payload: Buffer | string;
  messageId?: number;
  brokerId?: string;
  brokerCounter?: number;
  [k: string]: unknown;
}

interface Queue {
  packets: MqttPacket[];
  bytes: number;
}

interface AsyncPersistence {
  storeRetained(packet: MqttPacket): Promise<void>;
  outgoingEnqueue(sub: { clientId: string }, packet: MqttPacket): Promise<void>;
  outgoingEnqueueCombi(subs: { clientId: string }[], packet: MqttPacket): Promise<void>;
  outgoingUpdate(client: { id: string }, packet: MqttPacket): Promise<void>;
  outgoingClearMessageId(client: { id: string }, packet: MqttPacket): Promise<MqttPacket | undefined>;
  outgoingStream(client: { id: string }): Iterable<MqttPacket>;
  cleanSubscriptions(client: { id: string }): Promise<void>;
  cleanIncoming(client: { id: string }): Promise<void>;
  delWill(client: { id: string }): Promise<unknown>;
}

/** The persistence for aedes and the removal of one stored session (persistent-session bounds). */
export interface BoundedPersistence {
  persistence: object;
  /**
   * Forgets everything kept for an offline client id: its subscriptions (the
   * map and the topic trie, so no further message is queued for it), its
   * queue and its inbound QoS 2 packets. Its next clean_session=0 connect gets
   * session_present=0.
   */
  removeSession(clientId: string): Promise<void>;
}

type PacketCtor = new (packet: MqttPacket) => MqttPacket;

const size = (p: MqttPacket): number => (typeof p.payload === "string" ? Buffer.byteLength(p.payload) : (p.payload?.length ?? 0));

/** Builds the persistence to pass as aedes's `persistence` option. */
export function boundedPersistence(limits: PersistenceLimits, events: PersistenceEvents): BoundedPersistence {
  const persistence = memory();
  const inner = (persistence as unknown as { asyncPersistence: AsyncPersistence }).asyncPersistence;
  const Packet = memory.Packet as unknown as PacketCtor;
  const retained = new Map<string, number>(); // topic → payload bytes
  let retainedBytes = 0;
  const queues = new Map<string, Queue>();
  let queued = 0;
  let queuedBytes = 0;
  const report = () => events.levels(retained.size, retainedBytes, queued, queuedBytes);

  const storeRetained = inner.storeRetained.bind(inner);
  inner.storeRetained = async (packet) => {
    const bytes = size(packet);
    const old = retained.get(packet.topic);
    if (bytes === 0) {
      // [MQTT-3.3.1-10]: a zero-byte retained message clears the topic's retained message.
      if (old !== undefined) {
        retained.delete(packet.topic);
        retainedBytes -= old;
        report();
      }
      return storeRetained(packet);
    }
    if (!limits.retainAvailable) return events.retainedRefused("retain_unavailable");
    if (old === undefined && limits.maxRetainedMessages > 0 && retained.size >= limits.maxRetainedMessages) return events.retainedRefused("max_retained_messages");
    if (limits.maxRetainedBytes > 0 && retainedBytes - (old ?? 0) + bytes > limits.maxRetainedBytes) return events.retainedRefused("max_retained_bytes");
    retained.set(packet.topic, bytes);
    retainedBytes += bytes - (old ?? 0);
    report();
    return storeRetained(packet);
  };

  function enqueue(clientId: string, packet: MqttPacket): void {
    let q = queues.get(clientId);
    if (q === undefined) {
      q = { packets: [], bytes: 0 };
      queues.set(clientId, q);
    }
    const p = new Packet(packet);
    const bytes = size(p);
    q.packets.push(p);
    q.bytes += bytes;
    queued++;
    queuedBytes += bytes;
    let byCount = 0;
    let byBytes = 0;
    // Oldest first: a device's newest readings are the ones worth keeping.
    while (q.packets.length > 1) {
      let reason: MqttQueueDroppedReason | null = null;
      if (limits.maxQueuedMessages > 0 && q.packets.length > limits.maxQueuedMessages) reason = "max_queued_messages";
      else if (limits.maxQueuedBytes > 0 && q.bytes > limits.maxQueuedBytes) reason = "max_queued_bytes";
      if (reason === null) break;
      const dropped = q.packets.shift()!;
      const b = size(dropped);
      q.bytes -= b;
      queued--;
      queuedBytes -= b;
      if (reason === "max_queued_messages") byCount++;
      else byBytes++;
    }
    if (byCount > 0) events.queueDropped("max_queued_messages", byCount);
    if (byBytes > 0) events.queueDropped("max_queued_bytes", byBytes);
  }

  inner.outgoingEnqueue = async (sub, packet) => {
    enqueue(sub.clientId, packet);
    report();
  };
  inner.outgoingEnqueueCombi = async (subs, packet) => {
    for (const sub of subs) enqueue(sub.clientId, packet);
    report();
  };
  inner.outgoingUpdate = async (client, packet) => {
    const q = queues.get(client.id);
    if (q === undefined) return;
    const list = q.packets;
    for (let i = 0; i < list.length; i++) {
      const t = list[i]!;
      if (t.brokerId === packet.brokerId) {
        if (t.brokerCounter === packet.brokerCounter) {
          t.messageId = packet.messageId;
          return;
        }
      } else if (t.messageId === packet.messageId) {
        list[i] = packet;
        return;
      }
    }
    // Not found: it was dropped from a full queue while on its way. Delivering it
    // once more is harmless; failing here would disconnect the client.
  };
  inner.outgoingClearMessageId = async (client, packet) => {
    const q = queues.get(client.id);
    if (q === undefined) return undefined;
    const list = q.packets;
    for (let i = 0; i < list.length; i++) {
      const t = list[i]!;
      if (t.messageId === packet.messageId) {
        list.splice(i, 1);
        const b = size(t);
        q.bytes -= b;
        queued--;
        queuedBytes -= b;
        if (list.length === 0) queues.delete(client.id);
        report();
        return t;
      }
    }
    return undefined;
  };
  inner.outgoingStream = (client) => [...(queues.get(client.id)?.packets ?? [])];

  async function removeSession(clientId: string): Promise<void> {
    const client = { id: clientId };
    // Subscriptions first: from here on no new message is queued for it.
    await inner.cleanSubscriptions(client);
    const q = queues.get(clientId);
    if (q !== undefined) {
      queues.delete(clientId);
      queued -= q.packets.length;
      queuedBytes -= q.bytes;
      report();
    }
    await inner.cleanIncoming(client);
    await inner.delWill(client);
  }
  return { persistence, removeSession };
}
