import assert from "node:assert/strict";
import { test } from "node:test";
import { SigV4Signer, signRequest } from "../../gateway/remote-write/sigv4.js";

/**
 * AWS's published SigV4 test vectors (aws-sig-v4-test-suite, the folders
 * get-vanilla, post-vanilla and post-x-www-form-urlencoded): the example
 * credentials, region us-east-1, service "service", 20150830T123600Z. The
 * expected Authorization headers below are copied from the suite's .authz
 * files; they are facts, not values computed by the code under test.
 */
const SUITE = {
  credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" },
  region: "us-east-1",
  service: "service",
  signingDate: new Date("2015-08-30T12:36:00Z"),
};
const HOST = new URL("https://example.amazonaws.com/");

test("get-vanilla", async () => {
  const h = await signRequest({ method: "GET", url: HOST, headers: {} }, SUITE);
  assert.equal(
    h.authorization,
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
  );
  assert.equal(h["x-amz-date"], "20150830T123600Z");
  assert.equal(h.host, "example.amazonaws.com");
});

test("post-vanilla", async () => {
  const h = await signRequest({ method: "POST", url: HOST, headers: {} }, SUITE);
  assert.equal(
    h.authorization,
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
  );
});

test("post-x-www-form-urlencoded: the body and a content-type header are signed", async () => {
  const h = await signRequest(
    { method: "POST", url: HOST, headers: { "content-type": "application/x-www-form-urlencoded" }, body: new TextEncoder().encode("Param1=value1") },
    SUITE,
  );
  assert.equal(
    h.authorization,
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
  );
});

test("credentials: config first, then the standard AWS environment variables; none is an error naming the keys", async () => {
  const env = { AWS_ACCESS_KEY_ID: "AKIDENV", AWS_SECRET_ACCESS_KEY: "secret", AWS_SESSION_TOKEN: "tok", AWS_REGION: "eu-west-1" };
  const fromEnv = new SigV4Signer({}, env);
  assert.equal(fromEnv.region, "eu-west-1");
  const h = await fromEnv.sign(new URL("https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write"), { "content-type": "application/x-protobuf" }, new Uint8Array([1, 2, 3]));
  assert.match(h.authorization ?? "", /^AWS4-HMAC-SHA256 Credential=AKIDENV\/\d{8}\/eu-west-1\/aps\/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64}$/);
  assert.equal(h["x-amz-security-token"], "tok");

  const fromConfig = new SigV4Signer({ region: "us-west-2", access_key: "AKIDCFG", secret_key: "s" }, env);
  const h2 = await fromConfig.sign(new URL("https://example.amazonaws.com/"), {}, new Uint8Array());
  assert.match(h2.authorization ?? "", /Credential=AKIDCFG\/\d{8}\/us-west-2\/aps\//);

  assert.throws(() => new SigV4Signer({ region: "us-east-1" }, {}), /sigv4: no credentials: set sigv4\.access_key/);
  assert.throws(() => new SigV4Signer({ access_key: "a", secret_key: "b" }, {}), /sigv4\.region is not set/);
});
