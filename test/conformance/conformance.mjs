// Conformance test of a callcore node against the official Sinch Node SDK
// (@sinch/sdk-core 1.4.0). It drives every application-management method of
// sinch.voice.applications and the authentication edge cases, and prints one
// TAP-like line per check followed by "N passed, M failed".
//
// Environment (all required; conformance_test.go sets them):
//   CALLCORE_URL            base URL of the node's API listener, e.g. http://127.0.0.1:8080
//   APP_KEY, APP_SECRET     first configured application (secret in base64, as in the dashboard)
//   APP_NUMBERS             comma-separated numbers configured for APP_KEY (at least 2)
//   APP_CALLBACK_URL        configured callback_url of APP_KEY
//   APP_FALLBACK_URL        configured fallback_url of APP_KEY
//   OTHER_APP_KEY           second configured application
//   OTHER_APP_SECRET        its secret
//   OTHER_APP_NUMBERS       comma-separated numbers configured for OTHER_APP_KEY (at least 1)
//   OTHER_APP_CALLBACK_URL  configured callback_url of OTHER_APP_KEY (no fallback configured)
// Optional: CONFORMANCE_DEBUG=1 also prints the SDK's debug log.
//
// Exit status: 0 when every check passed, 1 when a check failed, 2 on an
// unexpected error outside the checks (bad environment, crash).

import assert from 'node:assert/strict';
import { SinchClient, RequestFailedError, generateAuthorizationHeader } from '@sinch/sdk-core';

// ---------------------------------------------------------------------------
// Environment

function env(name) {
  const v = process.env[name];
  if (v === undefined || v === '') {
    throw new Error(`environment variable ${name} is required`);
  }
  return v;
}

function list(name, min) {
  const v = env(name).split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (v.length < min) {
    throw new Error(`environment variable ${name} must list at least ${min} number(s), got ${v.length}`);
  }
  return v;
}

const cfg = {};
try {
  cfg.url = env('CALLCORE_URL').replace(/\/+$/, '');
  cfg.appKey = env('APP_KEY');
  cfg.appSecret = env('APP_SECRET');
  cfg.appNumbers = list('APP_NUMBERS', 2);
  cfg.appCallback = env('APP_CALLBACK_URL');
  cfg.appFallback = env('APP_FALLBACK_URL');
  cfg.otherKey = env('OTHER_APP_KEY');
  cfg.otherSecret = env('OTHER_APP_SECRET');
  cfg.otherNumbers = list('OTHER_APP_NUMBERS', 1);
  cfg.otherCallback = env('OTHER_APP_CALLBACK_URL');
} catch (err) {
  console.log(`Bail out! ${err.message}`);
  process.exit(2);
}

// A base64 secret that is valid but differs from every configured one.
const WRONG_SECRET = Buffer.from('definitely-not-the-secret').toString('base64');
const CAPABILITY = 'voice';

// sdkLogger prints the SDK's warnings and errors as "# " comment lines; its
// debug lines (every non-2xx response, which the negative checks provoke on
// purpose) only when CONFORMANCE_DEBUG is set.
function sdkLog(level, message) {
  const text = typeof message === 'function' ? message() : String(message);
  for (const line of text.split('\n')) console.log(`# sdk ${level}: ${line}`);
}
const sdkLogger = {
  debug: (m) => { if (process.env.CONFORMANCE_DEBUG) sdkLog('debug', m); },
  info: (m) => { if (process.env.CONFORMANCE_DEBUG) sdkLog('info', m); },
  warn: (m) => sdkLog('warn', m),
  error: (m) => sdkLog('error', m),
};

function client(applicationKey, applicationSecret) {
  return new SinchClient({
    applicationKey,
    applicationSecret,
    voiceHostname: cfg.url,
    voiceApplicationManagementHostname: cfg.url,
    logger: sdkLogger,
  });
}

const app = client(cfg.appKey, cfg.appSecret).voice;
const other = client(cfg.otherKey, cfg.otherSecret).voice;
const wrong = client(cfg.appKey, WRONG_SECRET).voice;

// ---------------------------------------------------------------------------
// Harness

let passed = 0;
let failed = 0;

function describe(err) {
  if (err instanceof RequestFailedError) {
    return `HTTP ${err.statusCode} ${err.data ?? ''}`.replace(/\s+/g, ' ').trim();
  }
  if (err instanceof assert.AssertionError) {
    return err.message.replace(/\s+/g, ' ').trim();
  }
  let text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  if (err && err.cause) {
    text += ` (cause: ${err.cause.message ?? err.cause})`;
  }
  if (process.env.CONFORMANCE_DEBUG && err && err.stack) {
    text += ` ${err.stack}`;
  }
  return `unexpected exception: ${text}`.replace(/\s+/g, ' ').trim();
}

async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok - ${name}`);
  } catch (err) {
    failed++;
    console.log(`not ok - ${name}: ${describe(err)}`);
  }
}

// expectSdkError runs an SDK call that must fail with HTTP status and a
// Sinch VoiceError JSON body; it returns the parsed body.
async function expectSdkError(status, call) {
  let result;
  try {
    result = await call();
  } catch (err) {
    if (!(err instanceof RequestFailedError)) {
      throw err;
    }
    assert.equal(err.statusCode, status, `want HTTP ${status}, got HTTP ${err.statusCode} ${err.data}`);
    const ct = (err.responseHeaders && err.responseHeaders['content-type']) || '';
    assert.match(ct, /^application\/json\b/, `error Content-Type ${JSON.stringify(ct)} is not application/json`);
    const body = JSON.parse(err.data);
    assertVoiceError(body, status);
    return body;
  }
  assert.fail(`want HTTP ${status}, the call succeeded with ${JSON.stringify(result)}`);
}

// expectFetchError checks a raw fetch Response against status and the
// VoiceError body shape.
async function expectFetchError(res, status) {
  const text = await res.text();
  assert.equal(res.status, status, `want HTTP ${status}, got HTTP ${res.status} ${text}`);
  const ct = res.headers.get('content-type') || '';
  assert.match(ct, /^application\/json\b/, `error Content-Type ${JSON.stringify(ct)} is not application/json`);
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    assert.fail(`error body is not JSON: ${text}`);
  }
  assertVoiceError(body, status);
  return body;
}

// assertVoiceError checks the Sinch VoiceError shape (reference §2.1):
// errorCode is a JSON integer of the form status*100+sub-code, message is a
// non-empty string; reference and status are optional strings.
function assertVoiceError(body, status) {
  assert.equal(typeof body, 'object', `error body is not an object: ${JSON.stringify(body)}`);
  assert.ok(body !== null && !Array.isArray(body), `error body is not an object: ${JSON.stringify(body)}`);
  assert.ok(Number.isInteger(body.errorCode), `errorCode is not an integer: ${JSON.stringify(body)}`);
  assert.equal(Math.trunc(body.errorCode / 100), status, `errorCode ${body.errorCode} does not match HTTP ${status}`);
  assert.equal(typeof body.message, 'string', `message is not a string: ${JSON.stringify(body)}`);
  assert.ok(body.message.length > 0, 'message is empty');
  for (const k of ['reference', 'status']) {
    if (k in body) {
      assert.equal(typeof body[k], 'string', `${k} is not a string: ${JSON.stringify(body)}`);
    }
  }
}

const byNumber = (a, b) => (a.number < b.number ? -1 : a.number > b.number ? 1 : 0);

// expectedNumbers builds the exact listNumbers entries one application sees
// from an assignment map (number -> app key, "" for unassigned). On callcore
// applications are tenants: an application sees its own numbers and the
// unassigned ones of the node's inventory, never another application's.
function expectedNumbers(assignment, viewer) {
  return Object.entries(assignment)
    .filter(([, key]) => key === '' || key === viewer)
    .map(([number, key]) => (key === ''
      ? { number, capability: CAPABILITY }
      : { number, applicationkey: key, capability: CAPABILITY }))
    .sort(byNumber);
}

async function assertNumbers(client, viewer, assignment, context) {
  const res = await client.applications.listNumbers();
  assert.deepEqual(Object.keys(res), ['numbers'], `${context}: response keys ${JSON.stringify(res)}`);
  assert.ok(Array.isArray(res.numbers), `${context}: numbers is not an array`);
  assert.deepEqual([...res.numbers].sort(byNumber), expectedNumbers(assignment, viewer),
    `${context}: listNumbers returned ${JSON.stringify(res)}`);
}

// signedFetch sends a request signed by hand with generateAuthorizationHeader,
// the same helper the SDK uses, with a chosen x-timestamp.
function signedFetch(method, path, key, secret, timestamp, body) {
  const contentType = 'application/json';
  const authorization = generateAuthorizationHeader(method, body, contentType,
    `x-timestamp:${timestamp}`, path, key, secret);
  return fetch(cfg.url + path, {
    method,
    headers: {
      'Content-Type': contentType,
      'Accept': 'application/json',
      'x-timestamp': timestamp,
      'Authorization': authorization,
    },
    body,
  });
}

// ---------------------------------------------------------------------------
// Checks

async function main() {
  // Ownership as configured: number -> app key ("" = unassigned).
  const assignment = {};
  for (const n of cfg.appNumbers) assignment[n] = cfg.appKey;
  for (const n of cfg.otherNumbers) assignment[n] = cfg.otherKey;
  const [, moved] = cfg.appNumbers; // the number this script unassigns and reassigns
  const [otherNumber] = cfg.otherNumbers;

  // --- listNumbers -------------------------------------------------------
  await check('listNumbers returns exactly the configured numbers with applicationkey and capability', async () => {
    await assertNumbers(app, cfg.appKey, assignment, 'initial');
  });
  await check("listNumbers of the other app shows its own numbers and none of the first app's", async () => {
    await assertNumbers(other, cfg.otherKey, assignment, 'initial, other app');
  });

  // --- unassignNumber / assignNumbers -------------------------------------
  await check('unassignNumber succeeds for an own number', async () => {
    await app.applications.unassignNumber({
      unassignNumbersRequestBody: { number: moved, applicationkey: cfg.appKey, capability: CAPABILITY },
    });
  });
  assignment[moved] = '';
  await check('listNumbers after unassign shows the number without applicationkey', async () => {
    await assertNumbers(app, cfg.appKey, assignment, 'after unassign');
  });
  await check('an unassigned number is visible to the other app too', async () => {
    await assertNumbers(other, cfg.otherKey, assignment, 'after unassign, other app');
  });

  await check('assignNumbers with explicit applicationkey succeeds', async () => {
    await app.applications.assignNumbers({
      assignNumbersRequestBody: { numbers: [moved], applicationkey: cfg.appKey, capability: CAPABILITY },
    });
  });
  assignment[moved] = cfg.appKey;
  await check('listNumbers after assign shows the assignment', async () => {
    await assertNumbers(app, cfg.appKey, assignment, 'after assign');
  });
  await check('a number assigned again disappears from the other app\'s list', async () => {
    await assertNumbers(other, cfg.otherKey, assignment, 'after assign, other app');
  });

  await check('unassignNumber without applicationkey defaults to the signing app', async () => {
    await app.applications.unassignNumber({
      unassignNumbersRequestBody: { number: moved, capability: CAPABILITY },
    });
    assignment[moved] = '';
    await assertNumbers(app, cfg.appKey, assignment, 'after unassign without applicationkey');
  });
  await check('assignNumbers without applicationkey assigns to the signing app', async () => {
    await app.applications.assignNumbers({
      assignNumbersRequestBody: { numbers: [moved], capability: CAPABILITY },
    });
    assignment[moved] = cfg.appKey;
    await assertNumbers(app, cfg.appKey, assignment, 'after assign without applicationkey');
  });

  await check('assignNumbers of a number owned by another app is a 4xx VoiceError and changes nothing', async () => {
    // First free `moved`, then try to take it together with the other app's
    // number: all-or-nothing means `moved` must stay unassigned.
    await app.applications.unassignNumber({
      unassignNumbersRequestBody: { number: moved, applicationkey: cfg.appKey, capability: CAPABILITY },
    });
    assignment[moved] = '';
    const path = '/v1/configuration/numbers';
    const body = JSON.stringify({ numbers: [moved, otherNumber], applicationkey: cfg.appKey, capability: CAPABILITY });
    const res = await signedFetch('POST', path, cfg.appKey, cfg.appSecret, new Date().toISOString(), body);
    assert.ok(res.status >= 400 && res.status < 500, `want a 4xx, got HTTP ${res.status} ${await res.clone().text()}`);
    await expectFetchError(res, res.status);
    await assertNumbers(app, cfg.appKey, assignment, 'after rejected assign');
    await app.applications.assignNumbers({
      assignNumbersRequestBody: { numbers: [moved], applicationkey: cfg.appKey, capability: CAPABILITY },
    });
    assignment[moved] = cfg.appKey;
    await assertNumbers(app, cfg.appKey, assignment, 'after re-assign');
  });

  await check('unassignNumber of a number owned by another app is a 4xx VoiceError and changes nothing', async () => {
    const path = '/v1/configuration/numbers';
    const body = JSON.stringify({ number: otherNumber, applicationkey: cfg.appKey, capability: CAPABILITY });
    const res = await signedFetch('DELETE', path, cfg.appKey, cfg.appSecret, new Date().toISOString(), body);
    assert.ok(res.status >= 400 && res.status < 500, `want a 4xx, got HTTP ${res.status} ${await res.clone().text()}`);
    await expectFetchError(res, res.status);
    await assertNumbers(app, cfg.appKey, assignment, 'after rejected unassign');
  });

  await check("assignNumbers naming another app's applicationkey gets 403 and changes nothing", async () => {
    await app.applications.unassignNumber({
      unassignNumbersRequestBody: { number: moved, applicationkey: cfg.appKey, capability: CAPABILITY },
    });
    assignment[moved] = '';
    await expectSdkError(403, () => app.applications.assignNumbers({
      assignNumbersRequestBody: { numbers: [moved], applicationkey: cfg.otherKey, capability: CAPABILITY },
    }));
    await assertNumbers(other, cfg.otherKey, assignment, 'after forbidden assign, other app');
    await app.applications.assignNumbers({
      assignNumbersRequestBody: { numbers: [moved], applicationkey: cfg.appKey, capability: CAPABILITY },
    });
    assignment[moved] = cfg.appKey;
    await assertNumbers(app, cfg.appKey, assignment, 'after re-assign');
  });
  await check("unassignNumber naming another app's applicationkey gets 403 and changes nothing", async () => {
    await expectSdkError(403, () => app.applications.unassignNumber({
      unassignNumbersRequestBody: { number: otherNumber, applicationkey: cfg.otherKey, capability: CAPABILITY },
    }));
    await assertNumbers(other, cfg.otherKey, assignment, 'after forbidden unassign, other app');
  });

  // --- getCallbackURLs / updateCallbackURLs --------------------------------
  await check('getCallbackURLs returns the configured primary and fallback', async () => {
    const res = await app.applications.getCallbackURLs({ applicationkey: cfg.appKey });
    assert.deepEqual(res, { url: { primary: cfg.appCallback, fallback: cfg.appFallback } },
      `got ${JSON.stringify(res)}`);
  });
  await check('getCallbackURLs omits fallback when none is configured', async () => {
    const res = await other.applications.getCallbackURLs({ applicationkey: cfg.otherKey });
    assert.deepEqual(res, { url: { primary: cfg.otherCallback } }, `got ${JSON.stringify(res)}`);
  });

  const updated = {
    primary: 'https://conformance-new.example.com/sinch/callback',
    fallback: 'https://conformance-new-fallback.example.com/sinch/callback',
  };
  await check('updateCallbackURLs succeeds', async () => {
    await app.applications.updateCallbackURLs({
      applicationkey: cfg.appKey,
      updateCallbacksRequestBody: { url: updated },
    });
  });
  await check('getCallbackURLs after update returns the new URLs', async () => {
    const res = await app.applications.getCallbackURLs({ applicationkey: cfg.appKey });
    assert.deepEqual(res, { url: updated }, `got ${JSON.stringify(res)}`);
  });

  // --- queryNumber -----------------------------------------------------------
  await check('queryNumber +46701234567 is a Swedish mobile', async () => {
    const res = await app.applications.queryNumber({ number: '+46701234567' });
    assert.ok(res.number && typeof res.number === 'object', `got ${JSON.stringify(res)}`);
    assert.equal(res.number.countryId, 'SE', `countryId: got ${JSON.stringify(res)}`);
    assert.equal(res.number.numberType, 'Mobile', `numberType: got ${JSON.stringify(res)}`);
    assert.equal(res.number.normalizedNumber, '+46701234567', `normalizedNumber: got ${JSON.stringify(res)}`);
  });
  await check('queryNumber with spaces "+1 201 555 0100" works', async () => {
    const res = await app.applications.queryNumber({ number: '+1 201 555 0100' });
    assert.ok(res.number && typeof res.number === 'object', `got ${JSON.stringify(res)}`);
    assert.equal(res.number.normalizedNumber, '+12015550100', `normalizedNumber: got ${JSON.stringify(res)}`);
    assert.equal(res.number.countryId, 'US', `countryId: got ${JSON.stringify(res)}`);
    assert.ok(['Unknown', 'Fixed', 'Mobile', 'Other'].includes(res.number.numberType),
      `numberType: got ${JSON.stringify(res)}`);
  });

  // --- authentication ----------------------------------------------------------
  await check('a client with a wrong secret gets 401 with a VoiceError body', async () => {
    await expectSdkError(401, () => wrong.applications.listNumbers());
  });
  await check('an unsigned request gets 401 with a VoiceError body', async () => {
    const res = await fetch(`${cfg.url}/v1/configuration/numbers`, {
      headers: { 'Accept': 'application/json', 'Content-Type': 'application/json' },
    });
    await expectFetchError(res, 401);
  });
  await check('a Basic-authenticated request is accepted', async () => {
    const basic = Buffer.from(`${cfg.appKey}:${cfg.appSecret}`).toString('base64');
    const res = await fetch(`${cfg.url}/v1/configuration/numbers`, {
      headers: { 'Accept': 'application/json', 'Authorization': `Basic ${basic}` },
    });
    const text = await res.text();
    assert.equal(res.status, 200, `got HTTP ${res.status} ${text}`);
    const body = JSON.parse(text);
    assert.deepEqual([...body.numbers].sort(byNumber), expectedNumbers(assignment, cfg.appKey), `got ${text}`);
  });
  await check('a hand-signed request with a current x-timestamp is accepted (control)', async () => {
    const res = await signedFetch('GET', '/v1/configuration/numbers', cfg.appKey, cfg.appSecret,
      new Date().toISOString(), undefined);
    const text = await res.text();
    assert.equal(res.status, 200, `got HTTP ${res.status} ${text}`);
  });
  await check('a replayed request with a 20-minute-old x-timestamp gets 401', async () => {
    const old = new Date(Date.now() - 20 * 60 * 1000).toISOString();
    const res = await signedFetch('GET', '/v1/configuration/numbers', cfg.appKey, cfg.appSecret, old, undefined);
    await expectFetchError(res, 401);
  });
  await check('a request with an x-timestamp 20 minutes in the future gets 401', async () => {
    const future = new Date(Date.now() + 20 * 60 * 1000).toISOString();
    const res = await signedFetch('GET', '/v1/configuration/numbers', cfg.appKey, cfg.appSecret, future, undefined);
    await expectFetchError(res, 401);
  });
  await check("getCallbackURLs of another app's key gets 403 with a VoiceError body", async () => {
    await expectSdkError(403, () => app.applications.getCallbackURLs({ applicationkey: cfg.otherKey }));
  });
  await check("updateCallbackURLs of another app's key gets 403 and changes nothing", async () => {
    await expectSdkError(403, () => app.applications.updateCallbackURLs({
      applicationkey: cfg.otherKey,
      updateCallbacksRequestBody: { url: { primary: 'https://hijack.example.com/cb' } },
    }));
    const res = await other.applications.getCallbackURLs({ applicationkey: cfg.otherKey });
    assert.deepEqual(res, { url: { primary: cfg.otherCallback } }, `other app's callbacks changed: ${JSON.stringify(res)}`);
  });

  // --- calling host ---------------------------------------------------------
  // A TTS callout is accepted and becomes a call the SDK can read back. The
  // node under test dials a gateway nobody answers, so the call fails; what
  // is checked here is the API contract, not the ringing (see test/e2e).
  await check('callouts.tts returns a callId that calls.get finds', async () => {
    const res = await app.callouts.tts({
      ttsCalloutRequestBody: {
        method: 'ttsCallout',
        ttsCallout: {
          cli: '+46701234567',
          destination: { type: 'number', endpoint: '+12015550100' },
          locale: 'en-US',
          text: 'Hello from the conformance test',
          custom: 'conformance',
        },
      },
    });
    assert.match(res.callId, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, `callId: ${JSON.stringify(res)}`);
    const info = await app.calls.get({ callId: res.callId });
    assert.equal(info.callId, res.callId);
    assert.deepEqual(info.to, { type: 'number', endpoint: '+12015550100' });
    assert.equal(info.custom, 'conformance');
    assert.ok(['ONGOING', 'FINAL'].includes(info.status), `status: ${info.status}`);
    assert.ok(info.userRate && typeof info.userRate.currencyId === 'string', `userRate: ${JSON.stringify(info)}`);
  });
  await check('calls.get of an unknown call gets 404 with a VoiceError body', async () => {
    await expectSdkError(404, () => app.calls.get({ callId: 'c0ffee00-0000-4000-8000-000000000000' }));
  });
  await check('callouts.conference answers 501 until conferences land', async () => {
    await expectSdkError(501, () => app.callouts.conference({
      conferenceCalloutRequestBody: {
        method: 'conferenceCallout',
        conferenceCallout: { destination: { type: 'number', endpoint: '+12015550100' }, conferenceId: 'room1' },
      },
    }));
  });
}

try {
  await main();
} catch (err) {
  console.log(`Bail out! ${describe(err)}`);
  console.log(`${passed} passed, ${failed + 1} failed`);
  process.exit(2);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
