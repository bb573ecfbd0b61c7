import { test } from "node:test";
import assert from "node:assert/strict";
import { Acl } from "../../gateway/ingest/auth/acl.js";

const FILE = `# anonymous section: before any user line
topic read public/#
topic deny public/secret/#

pattern write vehicles/%u/#
pattern read vehicles/%u/commands/#
pattern readwrite clients/%c/#

user fleet-ops
topic read vehicles/#
topic read $SYS/#
topic deny vehicles/+/private

user limited
topic write upload
`;

const acl = new Acl(FILE, "devices.acl");
const id = (username: string | null, clientId = "c1") => ({ username, clientId });
const ok = (d: { allowed: boolean }) => d.allowed;

test("pattern write vehicles/%u/# lets a device publish only under its own identity", () => {
  assert.ok(ok(acl.check(id("A"), "vehicles/A/telemetry", "write")));
  assert.ok(ok(acl.check(id("A"), "vehicles/A", "write")), "# matches the parent level too");
  assert.deepEqual(acl.check(id("A"), "vehicles/B/telemetry", "write"), { allowed: false, reason: "acl_no_match" });
  assert.ok(!ok(acl.check(id("A"), "vehicles/A/telemetry", "read")), "write grant is not a read grant");
  assert.ok(ok(acl.check(id("A"), "vehicles/A/commands/x", "read")));
});

test("%c is the client id; anonymous clients get only the lines before the first user", () => {
  assert.ok(ok(acl.check(id(null, "dev-9"), "clients/dev-9/x", "write")));
  assert.ok(!ok(acl.check(id(null, "dev-9"), "clients/dev-8/x", "write")));
  assert.ok(ok(acl.check(id(null), "public/news", "read")));
  assert.ok(!ok(acl.check(id(null), "public/news", "write")));
  assert.ok(!ok(acl.check(id(null), "vehicles/A/telemetry", "write")), "%u never matches an anonymous client");
  assert.ok(!ok(acl.check(id("A"), "public/news", "read")), "the anonymous section is not for named users");
});

test("deny wins over grants of the same list, wherever it is written", () => {
  assert.deepEqual(acl.check(id(null), "public/secret/x", "read"), { allowed: false, reason: "acl_deny" });
  assert.ok(ok(acl.check(id("fleet-ops"), "vehicles/A/telemetry", "read")));
  assert.deepEqual(acl.check(id("fleet-ops"), "vehicles/A/private", "read"), { allowed: false, reason: "acl_deny" });
});

test("no match is denied; $ topics need a rule naming them", () => {
  assert.ok(!ok(acl.check(id("limited"), "other", "write")));
  assert.ok(ok(acl.check(id("limited"), "upload", "write")));
  assert.ok(ok(acl.check(id("fleet-ops"), "$SYS/broker/x", "read")));
  const wide = new Acl("topic readwrite #\n");
  assert.ok(!ok(wide.check(id(null), "$SYS/x", "read")), "[MQTT-4.7.2-1]: # does not match $SYS topics");
  assert.ok(ok(wide.check(id(null), "a/b", "read")));
});

test("a user name or client id containing + # / never widens a pattern", () => {
  assert.deepEqual(acl.check(id("#"), "vehicles/B/telemetry", "write"), { allowed: false, reason: "dangerous_identity" });
  assert.deepEqual(acl.check(id("+"), "vehicles/B/telemetry", "write"), { allowed: false, reason: "dangerous_identity" });
  assert.deepEqual(acl.check(id(null, "x/#"), "clients/x/y", "write"), { allowed: false, reason: "dangerous_identity" });
  // "A/B" as a user name is one level value: it does not reach vehicles/A/B/....
  assert.ok(!ok(acl.check(id("A/B"), "vehicles/A/B/telemetry", "write")));
  assert.ok(!ok(acl.check(id("A/B"), "vehicles/A/telemetry", "write")));
});

test("subscriptions: refused when no read grant overlaps or a deny covers the filter; # is allowed but filtered per message", () => {
  assert.ok(ok(acl.checkSubscribe(id("A"), "#")), "overlaps vehicles/A/commands/#");
  assert.ok(ok(acl.checkSubscribe(id("A"), "vehicles/A/commands/+")));
  assert.deepEqual(acl.checkSubscribe(id("A"), "vehicles/B/#"), { allowed: false, reason: "acl_no_match" });
  assert.deepEqual(acl.checkSubscribe(id("limited"), "other/#"), { allowed: false, reason: "acl_no_match" });
  assert.deepEqual(acl.checkSubscribe(id(null), "public/secret/#"), { allowed: false, reason: "acl_deny" });
  assert.ok(!ok(acl.checkSubscribe(id("A"), "$SYS/#")));
  assert.ok(ok(acl.checkSubscribe(id("fleet-ops"), "$SYS/#")));
  assert.ok(ok(acl.checkSubscribe(id(null), "#")), "anonymous may read public/#");
  assert.deepEqual(new Acl("topic write a/#\n").checkSubscribe(id(null), "#"), { allowed: false, reason: "acl_no_match" }, "write-only grants do not allow a subscription");
});

test("syntax errors name the line", () => {
  assert.throws(() => new Acl("topic\n", "f"), /f:1: empty topic/);
  assert.throws(() => new Acl("topic readonly a/b\n", "f"), /f:1: access must be read, write, readwrite or deny/);
  assert.throws(() => new Acl("\n\nuser\n", "f"), /f:3: missing user name/);
  assert.throws(() => new Acl("topic read a/#/b\n", "f"), /invalid topic/);
  assert.throws(() => new Acl("allow a\n", "f"), /f:1: expected "topic", "pattern" or "user"/);
  // access omitted = readwrite
  const rw = new Acl("topic a/b\n");
  assert.ok(ok(rw.check(id(null), "a/b", "read")) && ok(rw.check(id(null), "a/b", "write")));
});

test("revoking one identity: `user X` + `topic deny #` overrides every pattern", () => {
  const revoked = new Acl("pattern readwrite vehicles/%u/#\nuser vin-9\ntopic deny #\n");
  assert.deepEqual(revoked.check(id("vin-9"), "vehicles/vin-9/telemetry", "write"), { allowed: false, reason: "acl_deny" });
  assert.ok(!ok(revoked.checkSubscribe(id("vin-9"), "vehicles/vin-9/#")));
  assert.ok(ok(revoked.check(id("vin-8"), "vehicles/vin-8/telemetry", "write")));
});
