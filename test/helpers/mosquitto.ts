import { spawn } from "node:child_process";

/** Publishes each line of `lines` as one message with the real `mosquitto_pub` (one connection, clientId given). */
export function mosquittoPub(port: number, clientId: string, topic: string, lines: string[], qos = 1): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn("mosquitto_pub", ["-h", "127.0.0.1", "-p", String(port), "-V", "mqttv311", "-i", clientId, "-q", String(qos), "-t", topic, "-l"], {
      stdio: ["pipe", "ignore", "pipe"],
    });
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`mosquitto_pub exited with ${code}: ${err}`));
    });
    child.stdin.end(lines.join("\n") + "\n");
  });
}
