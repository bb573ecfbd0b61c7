/**
 * mqtt-packet (the encoder aedes writes every outgoing packet with) keeps, by
 * default, a table of 65,536 two-byte Buffers, one per packet id, built on the
 * first packet written (the first CONNACK): ~6 MB of heap (a Buffer object is
 * ~96 bytes) plus their pool slabs, for a gateway whose clients mostly publish
 * and receive only CONNACK, PUBACK and PINGRESP. Without the table a packet
 * id is written from a fresh 2-byte Buffer: one small allocation per QoS 1/2
 * packet, against 6 MB resident for the process's lifetime.
 */
import mqttPacket from "mqtt-packet";

export function disablePacketIdCache(): void {
  mqttPacket.writeToStream.cacheNumbers = false;
}
