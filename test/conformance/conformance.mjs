// Conformance test of a callcore node against the official Sinch Node SDK
// (@sinch/sdk-core 1.4.0). It drives every application-management method of
// sinch.voice.applications and the authentication edge cases, places real
// calls with sinch.voice.callouts (tts and custom) to the node's PSTN gateway
// (a sipp that answers and echoes RTP), controls them with sinch.voice.calls
// (get, update, manageWithCallLeg), puts two calls into a conference room
// with sinch.voice.conferences.call and sinch.voice.callouts.conference and
// manages the room with sinch.voice.conferences (get, manageParticipant,
// kickParticipant, kickAll), and runs the application's callback
// server: every callback must pass the SDK's validateAuthenticationHeader and
// parseEvent, and is answered with SVAML built by the SDK's builders and
// helpers (Voice.IceSvamletBuilder, Voice.AceSvamletBuilder,
// Voice.customCalloutHelper, Voice.*ActionHelper, Voice.*InstructionHelper).
// It prints one TAP-like line per check followed by "N passed, M failed".
//
// The callback server listens on 127.0.0.1 on a free port and prints
//   # callback server listening on http://127.0.0.1:PORT
// conformance_test.go forwards the node's callbacks, verbatim, from
// CALLBACK_BASE_URL (where the apps' callback URLs point) to it.
//
// Environment (all required; conformance_test.go sets them):
//   CALLCORE_URL            base URL of the node's API listener, e.g. http://127.0.0.1:8080
//   CALLCORE_METRICS_URL    the node's Prometheus endpoint (RTP packet counters prove audio was played)
//   CALLBACK_BASE_URL       base URL that forwards to this program's callback server
//   APP_KEY, APP_SECRET     first configured application (secret in base64, as in the dashboard)
//   APP_NUMBERS             comma-separated numbers configured for APP_KEY (at least 2)
//   APP_CALLBACK_URL        configured callback_url of APP_KEY (CALLBACK_BASE_URL + a path)
//   APP_FALLBACK_URL        configured fallback_url of APP_KEY (CALLBACK_BASE_URL + another path)
//   OTHER_APP_KEY           second configured application
//   OTHER_APP_SECRET        its secret
//   OTHER_APP_NUMBERS       comma-separated numbers configured for OTHER_APP_KEY (at least 1)
//   OTHER_APP_CALLBACK_URL  configured callback_url of OTHER_APP_KEY (no fallback configured)
// Optional: CONFORMANCE_DEBUG=1 also prints the SDK's debug log.
//
// Exit status: 0 when every check passed, 1 when a check failed, 2 on an
// unexpected error outside the checks (bad environment, crash).

import assert from 'node:assert/strict';
import http from 'node:http';
import {
  SinchClient,
  RequestFailedError,
  Voice,
  VoiceCallbackWebhooks,
  generateAuthorizationHeader,
  validateAuthenticationHeader,
} from '@sinch/sdk-core';

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
  cfg.metricsUrl = env('CALLCORE_METRICS_URL');
  cfg.callbackBase = env('CALLBACK_BASE_URL').replace(/\/+$/, '');
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

// lastResponse is the HTTP status of the last successful SDK call, recorded
// by a response plugin: the SDK resolves calls.update and
// calls.manageWithCallLeg with undefined, and the checks want exactly 204.
let lastResponse = { operationId: '', status: 0 };
const statusRecorder = {
  load: (context) => ({
    transform: (res) => {
      lastResponse = { operationId: context.operationId, status: context.response ? context.response.status : 0 };
      return res;
    },
  }),
};

function client(applicationKey, applicationSecret) {
  return new SinchClient({
    applicationKey,
    applicationSecret,
    voiceHostname: cfg.url,
    voiceApplicationManagementHostname: cfg.url,
    logger: sdkLogger,
    responsePlugins: [statusRecorder],
  });
}

// expectNoContent runs an SDK call that must succeed with HTTP 204 (the
// SDK resolves it with an empty object).
async function expectNoContent(operationId, call) {
  lastResponse = { operationId: '', status: 0 };
  const res = await call();
  assert.deepEqual(res, {}, `${operationId} resolved with ${JSON.stringify(res)}`);
  assert.deepEqual(lastResponse, { operationId, status: 204 }, `want HTTP 204 from ${operationId}`);
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
// Callback server: the application side of the node's callbacks.

const webhooks = new VoiceCallbackWebhooks({ applicationKey: cfg.appKey, applicationSecret: cfg.appSecret });

// Every callback received, in order: { method, path, headers, body, valid,
// validLow, event, reply, error, unexpected, at }.
const callbacks = [];
const waiters = new Set();

// scenarios maps the `custom` value of a call to its handlers: ice and ace
// return the SVAML reply (an object), dice returns nothing. A handler error
// is recorded on the callback and the call gets a hangup.
const scenarios = new Map();

function recordCallback(r) {
  callbacks.push(r);
  for (const w of [...waiters]) {
    if (w.pred(r)) {
      waiters.delete(w);
      clearTimeout(w.timer);
      w.resolve(r);
    }
  }
}

// waitCallback returns the first callback, received or to come, that pred
// accepts; it rejects after ms.
function waitCallback(pred, ms, what) {
  const found = callbacks.find(pred);
  if (found) return Promise.resolve(found);
  return new Promise((resolve, reject) => {
    const w = { pred, resolve };
    w.timer = setTimeout(() => {
      waiters.delete(w);
      reject(new assert.AssertionError({ message: `no ${what} within ${ms} ms (callbacks so far: ${summarize()})` }));
    }, ms);
    waiters.add(w);
  });
}

// waitEvent waits for the event of one call, by its custom value.
function waitEvent(custom, kind, ms) {
  return waitCallback((r) => r.event && r.event.custom === custom && r.event.event === kind, ms,
    `${kind} callback for custom=${custom}`);
}

function summarize() {
  return JSON.stringify(callbacks.map((r) => `${r.method} ${r.path} ${r.event ? `${r.event.event}/${r.event.custom}` : r.error}`));
}

// fallbackPath is the path of the configured fallback URL: a callback that
// lands there means the node gave up on the primary.
const fallbackPath = new URL(cfg.appFallback).pathname;

async function onCallback(req, res) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const body = Buffer.concat(chunks).toString('utf8');
  const path = new URL(req.url, 'http://callback.invalid').pathname;
  const r = { method: req.method, path, headers: req.headers, body, at: Date.now() };
  try {
    r.rtp = await rtpPackets(); // what the node had played when the event came
  } catch (err) {
    console.log(`# reading RTP counters: ${describe(err)}`);
  }
  let status = 200;
  let reply;
  try {
    r.valid = webhooks.validateAuthenticationHeader(req.headers, body, path, req.method);
    r.validLow = validateAuthenticationHeader(cfg.appKey, cfg.appSecret, req.headers, body, path, req.method);
    if (!r.valid || !r.validLow) {
      r.error = 'validateAuthenticationHeader rejected the callback';
      status = 401;
    } else {
      r.event = webhooks.parseEvent(body);
      const scenario = scenarios.get(r.event.custom);
      const handler = scenario && scenario[r.event.event];
      if (handler) {
        reply = await handler(r.event, r);
      } else if (r.event.event === 'ice' || r.event.event === 'ace') {
        r.unexpected = true;
        reply = { action: Voice.svamlActionHelper.buildHangup() };
      }
    }
  } catch (err) {
    r.error = describe(err);
    if (r.event && (r.event.event === 'ice' || r.event.event === 'ace')) {
      reply = { action: Voice.svamlActionHelper.buildHangup() };
    } else {
      status = 500;
    }
  }
  if (reply !== undefined) r.reply = JSON.stringify(reply);
  recordCallback(r);
  if (r.reply !== undefined) {
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(r.reply);
  } else {
    res.writeHead(status);
    res.end();
  }
}

const callbackServer = http.createServer((req, res) => {
  onCallback(req, res).catch((err) => {
    console.log(`# callback server error: ${describe(err)}`);
    if (!res.headersSent) res.writeHead(500);
    res.end();
  });
});

// assertSigned checks that a callback passed the SDK's validation (both the
// VoiceCallbackWebhooks wrapper and the low-level function) and parseEvent.
function assertSigned(r) {
  assert.ok(!r.error, `callback ${r.method} ${r.path}: ${r.error} (headers ${JSON.stringify(r.headers)}, body ${r.body})`);
  assert.equal(r.valid, true, `VoiceCallbackWebhooks.validateAuthenticationHeader rejected ${r.method} ${r.path} ${r.body}`);
  assert.equal(r.validLow, true, `validateAuthenticationHeader rejected ${r.method} ${r.path} ${r.body}`);
  assert.equal(r.method, 'POST', `callback method ${r.method}`);
  assert.match(r.headers['content-type'] || '', /^application\/json\b/, `callback Content-Type ${r.headers['content-type']}`);
  assert.ok(r.event.timestamp instanceof Date && !Number.isNaN(r.event.timestamp.getTime()),
    `timestamp ${JSON.stringify(JSON.parse(r.body).timestamp)} is not a date`);
  assert.equal(r.event.version, 1, `version: ${r.body}`);
  assert.equal(r.event.applicationKey, cfg.appKey, `applicationKey: ${r.body}`);
}

// assertCookies checks the cookies of an event after setCookie.
function assertCookies(ev, want) {
  assert.deepEqual(ev.cookies, want, `cookies of ${ev.event}: ${JSON.stringify(ev)}`);
}

// ---------------------------------------------------------------------------
// Calls: the node's metrics and polling helpers.

// rtpPackets reads the node's RTP packet counters: audio the node played
// counts as sent, the gateway's echo of it as received.
async function rtpPackets() {
  const res = await fetch(cfg.metricsUrl);
  const text = await res.text();
  assert.equal(res.status, 200, `GET ${cfg.metricsUrl}: HTTP ${res.status}`);
  const read = (name) => {
    const m = text.match(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm'));
    assert.ok(m, `metric ${name} is missing`);
    return Number(m[1]);
  };
  return {
    sent: read('callcore_media_rtp_packets_sent_total'),
    received: read('callcore_media_rtp_packets_received_total'),
  };
}

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

// poll calls fn every interval until it returns a value that is not
// undefined; it fails after ms with the last value seen.
async function poll(fn, ms, what, interval = 50) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    const v = await fn();
    if (v.done) return v.value;
    last = v.value;
    if (Date.now() >= deadline) {
      assert.fail(`${what} not reached within ${ms} ms (last: ${JSON.stringify(last)})`);
    }
    await sleep(interval);
  }
}

// waitPlayed waits until the node sent at least n more RTP packets than
// base.sent (20 ms each): a prompt is being played.
function waitPlayed(base, n, ms, what) {
  return poll(async () => {
    const p = await rtpPackets();
    return { done: p.sent - base.sent >= n, value: p };
  }, ms, `${what}: ${n} RTP packets sent`);
}

// waitQuiet waits until the node sends no RTP for quietMs: what played has
// finished. Returns the counters then.
function waitQuiet(quietMs, ms, what) {
  let prev = null;
  let since = 0;
  return poll(async () => {
    const p = await rtpPackets();
    const now = Date.now();
    if (prev === null || p.sent !== prev.sent) {
      prev = p;
      since = now;
    }
    return { done: now - since >= quietMs, value: p };
  }, ms, `${what}: RTP quiet for ${quietMs} ms`, 100);
}

// waitCall polls calls.get until pred accepts the call information.
function waitCall(callId, pred, ms, what) {
  return poll(async () => {
    const info = await app.calls.get({ callId });
    return { done: pred(info), value: info };
  }, ms, what);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

// assertPrice checks a userRate or debit: { currencyId, amount }.
function assertPrice(p, what) {
  assert.ok(p && typeof p === 'object', `${what}: ${JSON.stringify(p)}`);
  assert.equal(typeof p.currencyId, 'string', `${what}.currencyId: ${JSON.stringify(p)}`);
  assert.ok(p.currencyId.length > 0, `${what}.currencyId is empty`);
  assert.equal(typeof p.amount, 'number', `${what}.amount: ${JSON.stringify(p)}`);
}

// assertFinal checks calls.get of an ended call.
function assertFinal(info, callId, want) {
  assert.equal(info.callId, callId, `callId: ${JSON.stringify(info)}`);
  assert.equal(info.status, 'FINAL', `status: ${JSON.stringify(info)}`);
  assert.equal(info.result, want.result, `result: ${JSON.stringify(info)}`);
  assert.equal(info.reason, want.reason, `reason: ${JSON.stringify(info)}`);
  assert.ok(Number.isInteger(info.duration) && info.duration >= want.minDuration,
    `duration ${info.duration}, want an integer >= ${want.minDuration}: ${JSON.stringify(info)}`);
  if (typeof info.timestamp === 'string') {
    assert.match(info.timestamp, /(Z|[+-]\d\d:\d\d)$/, `timestamp without a time zone: ${JSON.stringify(info)}`);
  }
  const ts = new Date(info.timestamp);
  assert.ok(!Number.isNaN(ts.getTime()), `timestamp: ${JSON.stringify(info)}`);
  assert.ok(ts.getTime() >= want.after - 2000 && ts.getTime() <= Date.now() + 2000,
    `timestamp ${ts.toISOString()} is not the start of this call: ${JSON.stringify(info)}`);
  assertPrice(info.userRate, 'userRate');
  assertPrice(info.debit, 'debit');
  if (want.to) assert.deepEqual(info.to, want.to, `to: ${JSON.stringify(info)}`);
  if (want.custom) assert.equal(info.custom, want.custom, `custom: ${JSON.stringify(info)}`);
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
  // The calls below need the node's callbacks on the configured URLs again.
  await check('updateCallbackURLs back to the configured URLs takes effect', async () => {
    const configured = { primary: cfg.appCallback, fallback: cfg.appFallback };
    await app.applications.updateCallbackURLs({
      applicationkey: cfg.appKey,
      updateCallbacksRequestBody: { url: configured },
    });
    const res = await app.applications.getCallbackURLs({ applicationkey: cfg.appKey });
    assert.deepEqual(res, { url: configured }, `got ${JSON.stringify(res)}`);
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

  // --- calls ---------------------------------------------------------------
  // Every number is dialled through the node's PSTN gateway, a sipp that
  // answers at once and echoes RTP. RTP packet counters of the node show
  // that prompts were really played: 50 packets are one second of audio.
  const cli = '+46701234567';
  const callbackPath = new URL(cfg.appCallback).pathname;

  // A ttsCallout without ACE or DiCE: the node plays the text and hangs up,
  // and no callback may arrive for it (checked with all callbacks below).
  const quiet = { custom: 'conformance', to: { type: 'number', endpoint: '+12015550100' } };
  await check('callouts.tts rings the gateway: calls.get reports ONGOING, then FINAL ANSWERED/MANAGERHANGUP after the text was played', async () => {
    const t0 = Date.now();
    const base = await rtpPackets();
    const res = await app.callouts.tts({
      ttsCalloutRequestBody: {
        method: 'ttsCallout',
        ttsCallout: { cli, destination: quiet.to, locale: 'en-US', text: 'Hello from the conformance test', custom: quiet.custom },
      },
    });
    assert.match(res.callId, UUID, `callId: ${JSON.stringify(res)}`);
    quiet.callId = res.callId;
    const info = await app.calls.get({ callId: res.callId });
    assert.equal(info.callId, res.callId);
    assert.equal(info.status, 'ONGOING', `status right after the callout: ${JSON.stringify(info)}`);
    assert.deepEqual(info.to, quiet.to, `to: ${JSON.stringify(info)}`);
    assert.equal(info.custom, quiet.custom);
    assertPrice(info.userRate, 'userRate');
    const fin = await waitCall(res.callId, (i) => i.status === 'FINAL', 20000, 'status FINAL');
    assertFinal(fin, res.callId, { result: 'ANSWERED', reason: 'MANAGERHANGUP', minDuration: 1, after: t0, to: quiet.to, custom: quiet.custom });
    const p = await rtpPackets();
    assert.ok(p.sent - base.sent >= 50, `the text was not played: ${p.sent - base.sent} RTP packets sent`);
    assert.ok(p.received > base.received, 'the gateway echoed no RTP: it did not answer with working media');
  });

  // A ttsCallout with ACE and DiCE. The ACE handler reads the call with
  // calls.get while it is up, then answers say + hangup: the callout's own
  // (long) text must never play.
  const tts = { custom: 'conformance-tts-ace', to: { type: 'number', endpoint: '+12015550111' } };
  const aceGoodbye = 'Goodbye from the callcore conformance test. This call ends now.';
  scenarios.set(tts.custom, {
    ace: async (ev) => {
      try {
        tts.during = await app.calls.get({ callId: ev.callid });
      } catch (err) {
        tts.duringError = err;
      }
      return new Voice.AceSvamletBuilder()
        .addInstruction(Voice.aceInstructionHelper.say(aceGoodbye, 'en-US'))
        .setAction(Voice.aceActionHelper.hangup())
        .build();
    },
  });
  await check('callouts.tts with enableAce and enableDice: the gateway answers and a signed ACE reaches the callback URL', async () => {
    tts.t0 = Date.now();
    const res = await app.callouts.tts({
      ttsCalloutRequestBody: {
        method: 'ttsCallout',
        ttsCallout: {
          cli,
          destination: tts.to,
          locale: 'en-US',
          text: 'If you hear this sentence, the reply to the answered call event was ignored. '.repeat(4),
          enableAce: true,
          enableDice: true,
          custom: tts.custom,
        },
      },
    });
    assert.match(res.callId, UUID, `callId: ${JSON.stringify(res)}`);
    tts.callId = res.callId;
    const r = await waitEvent(tts.custom, 'ace', 10000);
    tts.ace = r;
    assertSigned(r);
    assert.equal(r.path, callbackPath, 'ACE path');
    assert.equal(r.event.callid, tts.callId, `callid: ${r.body}`);
  });
  await check('calls.get during the call (from the ACE handler) reports ONGOING', async () => {
    assert.ok(tts.ace, 'no ACE');
    if (tts.duringError) throw tts.duringError;
    const info = tts.during;
    assert.equal(info.callId, tts.callId, `callId: ${JSON.stringify(info)}`);
    assert.equal(info.status, 'ONGOING', `status: ${JSON.stringify(info)}`);
    assert.deepEqual(info.to, tts.to, `to: ${JSON.stringify(info)}`);
    assert.equal(info.custom, tts.custom, `custom: ${JSON.stringify(info)}`);
    assertPrice(info.userRate, 'userRate');
  });
  await check('the ACE reply built with Voice.AceSvamletBuilder (say, then hangup) is executed', async () => {
    assert.ok(tts.ace, 'no ACE');
    const d = await waitEvent(tts.custom, 'dice', 15000);
    tts.dice = d;
    const took = d.at - tts.ace.at;
    assert.ok(took < 12000, `the DiCE came ${took} ms after the ACE reply: the callout text was played instead of hanging up`);
    assert.ok(d.rtp && tts.ace.rtp, 'RTP counters were not read');
    const sent = d.rtp.sent - tts.ace.rtp.sent;
    assert.ok(sent >= 50, `the say instruction was not played: ${sent} RTP packets sent between ACE and DiCE`);
    assert.ok(d.rtp.received > tts.ace.rtp.received, 'the gateway echoed no RTP');
  });
  await check('the DiCE is signed and reports ANSWERED, MANAGERHANGUP, to, from, duration and prices', async () => {
    const d = tts.dice || await waitEvent(tts.custom, 'dice', 1000);
    assertSigned(d);
    assert.equal(d.path, callbackPath, 'DiCE path');
    const ev = d.event;
    assert.equal(ev.callid, tts.callId, `callid: ${d.body}`);
    assert.equal(ev.result, 'ANSWERED', `result: ${d.body}`);
    assert.equal(ev.reason, 'MANAGERHANGUP', `reason: ${d.body}`);
    assert.deepEqual(ev.to, tts.to, `to: ${d.body}`);
    assert.equal(ev.from, cli, `from: ${d.body}`);
    assert.ok(Number.isInteger(ev.duration) && ev.duration >= 1, `duration: ${d.body}`);
    assertPrice(ev.userRate, 'userRate');
    assertPrice(ev.debit, 'debit');
  });
  await check('calls.get after the call reports FINAL with result, reason, duration, timestamp and userRate', async () => {
    assert.ok(tts.callId, 'no call');
    const info = await waitCall(tts.callId, (i) => i.status === 'FINAL', 5000, 'status FINAL');
    assertFinal(info, tts.callId, { result: 'ANSWERED', reason: 'MANAGERHANGUP', minDuration: 1, after: tts.t0, to: tts.to, custom: tts.custom });
    if (tts.dice) {
      assert.equal(info.duration, tts.dice.event.duration, `calls.get duration ${info.duration} != DiCE duration ${tts.dice.event.duration}`);
    }
  });

  // A customCallout with inline ICE (connectPstn and setCookie) and its ACE
  // on a URL of the callback server; the ACE reply says continue, so the
  // call stays up for calls.manageWithCallLeg and calls.update.
  const live = { custom: 'conformance-custom-live', number: '+12015550122', acePath: '/sinch/ace' };
  scenarios.set(live.custom, {
    ace: () => new Voice.AceSvamletBuilder()
      .addInstruction(Voice.aceInstructionHelper.say('You are connected to the conformance test.', 'en-US'))
      .setAction(Voice.aceActionHelper.continue())
      .build(),
  });
  await check('callouts.custom with inline ice (Voice.customCalloutHelper.formatIceResponse: setCookie + connectPstn) rings the gateway; a signed ACE with the cookie reaches the ace URL', async () => {
    live.t0 = Date.now();
    const ice = Voice.customCalloutHelper.formatIceResponse(
      Voice.iceActionHelper.connectPstn({ number: live.number, cli, maxDuration: 60 }),
      Voice.iceInstructionHelper.setCookie('flow', 'live'),
    );
    const res = await app.callouts.custom({
      customCalloutRequestBody: {
        method: 'customCallout',
        customCallout: { ice, ace: cfg.callbackBase + live.acePath, custom: live.custom },
      },
    });
    assert.match(res.callId, UUID, `callId: ${JSON.stringify(res)}`);
    live.callId = res.callId;
    const r = await waitEvent(live.custom, 'ace', 10000);
    live.ace = r;
    assertSigned(r);
    assert.equal(r.path, live.acePath, 'ACE path');
    assert.equal(r.event.callid, live.callId, `callid: ${r.body}`);
    assertCookies(r.event, [{ key: 'flow', value: 'live' }]);
  });
  await check('the ACE reply built with Voice.AceSvamletBuilder (say, then continue) is executed and the call stays up', async () => {
    assert.ok(live.ace && live.ace.rtp, 'no ACE');
    await waitPlayed(live.ace.rtp, 25, 8000, 'the ACE say');
    await waitQuiet(500, 10000, 'the ACE say');
    const info = await app.calls.get({ callId: live.callId });
    assert.equal(info.status, 'ONGOING', `status after continue: ${JSON.stringify(info)}`);
    assert.equal(info.custom, live.custom, `custom: ${JSON.stringify(info)}`);
  });
  await check('calls.manageWithCallLeg with say + continue on the live call answers 204, the prompt plays and the call stays up', async () => {
    assert.ok(live.callId, 'no call');
    const base = await rtpPackets();
    await expectNoContent('ManageCallWithCallLeg', () => app.calls.manageWithCallLeg({
      callId: live.callId,
      callLeg: 'both',
      manageWithCallLegRequestBody: {
        instructions: [Voice.svamlInstructionHelper.buildSay('This prompt was sent with manage with call leg.', 'en-US')],
        action: Voice.svamlActionHelper.buildContinue(),
      },
    }));
    await waitPlayed(base, 25, 8000, 'the manageWithCallLeg say');
    await waitQuiet(500, 10000, 'the manageWithCallLeg say');
    const info = await app.calls.get({ callId: live.callId });
    assert.equal(info.status, 'ONGOING', `status after continue: ${JSON.stringify(info)}`);
  });
  await check('calls.update with say + hangup (Voice.svamlActionHelper) on the live call answers 204 and ends it: signed DiCE with MANAGERHANGUP', async () => {
    assert.ok(live.callId, 'no call');
    const base = await rtpPackets();
    await expectNoContent('UpdateCall', () => app.calls.update({
      callId: live.callId,
      updateCallRequestBody: {
        instructions: [Voice.svamlInstructionHelper.buildSay('Goodbye.', 'en-US')],
        action: Voice.svamlActionHelper.buildHangup(),
      },
    }));
    const d = await waitEvent(live.custom, 'dice', 10000);
    assertSigned(d);
    assert.equal(d.path, callbackPath, 'DiCE path');
    assert.equal(d.event.callid, live.callId, `callid: ${d.body}`);
    assert.equal(d.event.result, 'ANSWERED', `result: ${d.body}`);
    assert.equal(d.event.reason, 'MANAGERHANGUP', `reason: ${d.body}`);
    assertCookies(d.event, [{ key: 'flow', value: 'live' }]);
    assert.ok(d.rtp && d.rtp.sent - base.sent >= 10, `the goodbye was not played: ${d.rtp && d.rtp.sent - base.sent} RTP packets`);
    const info = await waitCall(live.callId, (i) => i.status === 'FINAL', 5000, 'status FINAL');
    assertFinal(info, live.callId, { result: 'ANSWERED', reason: 'MANAGERHANGUP', minDuration: 1, after: live.t0, custom: live.custom });
  });
  await check('calls.update on the ended call is an SDK error with a 4xx VoiceError', async () => {
    assert.ok(live.callId, 'no call');
    let result;
    try {
      result = await app.calls.update({
        callId: live.callId,
        updateCallRequestBody: { action: Voice.svamlActionHelper.buildHangup() },
      });
    } catch (err) {
      if (!(err instanceof RequestFailedError)) throw err;
      assert.ok(err.statusCode >= 400 && err.statusCode < 500, `want a 4xx, got HTTP ${err.statusCode} ${err.data}`);
      const ct = (err.responseHeaders && err.responseHeaders['content-type']) || '';
      assert.match(ct, /^application\/json\b/, `error Content-Type ${JSON.stringify(ct)} is not application/json`);
      assertVoiceError(JSON.parse(err.data), err.statusCode);
      return;
    }
    assert.fail(`the update of an ended call succeeded with ${JSON.stringify(result)}`);
  });

  // A customCallout whose ICE goes to a URL of the callback server, answered
  // with Voice.IceSvamletBuilder; its inline ACE (say + hangup) is built
  // with Voice.customCalloutHelper.formatAceResponse, so no ACE callback.
  const viaIce = { custom: 'conformance-custom-ice', number: '+12015550133', icePath: '/sinch/ice' };
  scenarios.set(viaIce.custom, {
    ice: () => new Voice.IceSvamletBuilder()
      .addInstruction(Voice.iceInstructionHelper.setCookie('flow', 'ice'))
      .setAction(Voice.iceActionHelper.connectPstn({ number: viaIce.number, cli, maxDuration: 30 }))
      .build(),
  });
  await check('callouts.custom with an ice URL: a signed ICE with callResourceUrl, cli and custom reaches that URL', async () => {
    viaIce.t0 = Date.now();
    const ace = Voice.customCalloutHelper.formatAceResponse(
      Voice.aceActionHelper.hangup(),
      Voice.aceInstructionHelper.say('Thank you for testing callcore. Goodbye.', 'en-US'),
    );
    const res = await app.callouts.custom({
      customCalloutRequestBody: {
        method: 'customCallout',
        customCallout: { cli, ice: cfg.callbackBase + viaIce.icePath, ace, custom: viaIce.custom },
      },
    });
    assert.match(res.callId, UUID, `callId: ${JSON.stringify(res)}`);
    viaIce.callId = res.callId;
    const r = await waitEvent(viaIce.custom, 'ice', 10000);
    viaIce.ice = r;
    assertSigned(r);
    assert.equal(r.path, viaIce.icePath, 'ICE path');
    const ev = r.event;
    assert.equal(ev.callid, viaIce.callId, `callid: ${r.body}`);
    assert.equal(ev.callResourceUrl, `${new URL(ev.callResourceUrl).origin}/calling/v1/calls/id/${viaIce.callId}`,
      `callResourceUrl: ${r.body}`);
    assert.equal(ev.cli, cli, `cli: ${r.body}`);
    assertPrice(ev.userRate, 'userRate');
  });
  await check('the ICE reply built with Voice.IceSvamletBuilder (setCookie + connectPstn) rings the gateway and the inline ace (say + hangup) is executed', async () => {
    assert.ok(viaIce.ice && viaIce.ice.rtp, 'no ICE');
    const d = await waitEvent(viaIce.custom, 'dice', 15000);
    assertSigned(d);
    assert.equal(d.path, callbackPath, 'DiCE path');
    assert.equal(d.event.callid, viaIce.callId, `callid: ${d.body}`);
    assert.equal(d.event.result, 'ANSWERED', `result: ${d.body}`);
    assert.equal(d.event.reason, 'MANAGERHANGUP', `reason: ${d.body}`);
    assertCookies(d.event, [{ key: 'flow', value: 'ice' }]);
    const sent = d.rtp.sent - viaIce.ice.rtp.sent;
    assert.ok(sent >= 50, `the inline ace say was not played: ${sent} RTP packets sent`);
    const info = await waitCall(viaIce.callId, (i) => i.status === 'FINAL', 5000, 'status FINAL');
    assertFinal(info, viaIce.callId, { result: 'ANSWERED', reason: 'MANAGERHANGUP', minDuration: 1, after: viaIce.t0, custom: viaIce.custom });
  });

  // --- runMenu and PIE ----------------------------------------------------------
  // A ttsCallout with enableAce/enablePie/enableDice: the ACE reply runs a
  // menu (Voice.aceActionHelper.runMenu); nobody presses a key, so the PIE
  // says timeout; its reply, built with Voice.PieSvamletBuilder (say, then
  // hangup), is executed.
  const menu = { custom: 'conformance-menu-pie', to: { type: 'number', endpoint: '+12015550144' } };
  const pieGoodbye = 'No key was pressed. Goodbye.';
  scenarios.set(menu.custom, {
    ace: async () => new Voice.AceSvamletBuilder()
      .setAction(Voice.aceActionHelper.runMenu({
        barge: true,
        locale: 'en-US',
        mainMenu: 'main',
        enableVoice: false,
        menus: [{
          id: 'main',
          mainPrompt: '#tts[Press one to confirm, two to cancel.]',
          repeatPrompt: '#tts[Once more: press one or two.]',
          repeats: 1,
          maxDigits: 1,
          timeoutMills: 1000,
          options: [{ dtmf: '1', action: 'return(confirm)' }, { dtmf: '2', action: 'return(cancel)' }],
        }],
      }))
      .build(),
    pie: async () => new Voice.PieSvamletBuilder()
      .addInstruction(Voice.pieInstructionHelper.say(pieGoodbye, 'en-US'))
      .setAction(Voice.pieActionHelper.hangup())
      .build(),
  });
  await check('callouts.tts with enablePie: the ACE reply runMenu (Voice.aceActionHelper) plays its prompts and a signed PIE with menuResult timeout reaches the callback URL', async () => {
    const res = await app.callouts.tts({
      ttsCalloutRequestBody: {
        method: 'ttsCallout',
        ttsCallout: {
          cli, destination: menu.to, locale: 'en-US', text: 'Not played: the ACE reply decides.',
          enableAce: true, enablePie: true, enableDice: true, custom: menu.custom,
        },
      },
    });
    menu.callId = res.callId;
    const ace = await waitEvent(menu.custom, 'ace', 10000);
    const r = await waitEvent(menu.custom, 'pie', 20000);
    menu.pie = r;
    assertSigned(r);
    assert.equal(r.path, callbackPath, 'PIE path');
    assert.equal(r.event.callid, menu.callId, `callid: ${r.body}`);
    assert.deepEqual({ ...r.event.menuResult }, { menuId: 'main', type: 'timeout', value: '', inputMethod: 'dtmf' },
      `menuResult: ${r.body}`);
    assert.ok(r.rtp && ace.rtp, 'RTP counters were not read');
    const sent = r.rtp.sent - ace.rtp.sent;
    assert.ok(sent >= 100, `the main and repeat prompts were not played: ${sent} RTP packets sent between ACE and PIE`);
  });
  await check('the PIE reply built with Voice.PieSvamletBuilder (say, then hangup) is executed: DiCE MANAGERHANGUP after the prompt', async () => {
    assert.ok(menu.pie, 'no PIE');
    const d = await waitEvent(menu.custom, 'dice', 15000);
    assertSigned(d);
    assert.equal(d.event.reason, 'MANAGERHANGUP', `reason: ${d.body}`);
    assert.equal(d.event.result, 'ANSWERED', `result: ${d.body}`);
    const sent = d.rtp.sent - menu.pie.rtp.sent;
    assert.ok(sent >= 25, `the PIE reply's say was not played: ${sent} RTP packets sent between PIE and DiCE`);
  });

  // --- callbacks, all together ------------------------------------------------
  await check('every callback passed validateAuthenticationHeader and parseEvent, on the expected URL, and no other came', async () => {
    for (const r of callbacks) assertSigned(r);
    const got = callbacks.map((r) => `${r.event.custom}:${r.event.event}:${r.path}`).sort();
    const want = [
      `${tts.custom}:ace:${callbackPath}`, `${tts.custom}:dice:${callbackPath}`,
      `${live.custom}:ace:${live.acePath}`, `${live.custom}:dice:${callbackPath}`,
      `${viaIce.custom}:ice:${viaIce.icePath}`, `${viaIce.custom}:dice:${callbackPath}`,
      `${menu.custom}:ace:${callbackPath}`, `${menu.custom}:pie:${callbackPath}`, `${menu.custom}:dice:${callbackPath}`,
    ].sort();
    assert.deepEqual(got, want, `callbacks: ${summarize()}`);
    assert.ok(!callbacks.some((r) => r.path === fallbackPath), 'a callback went to the fallback URL');
    assert.ok(!callbacks.some((r) => r.event.callid === quiet.callId), 'a callback came for the callout without enableAce/enableDice');
  });
  await check('control: a callback does not validate with another secret, key, path or body', async () => {
    const r = callbacks.find((c) => c.valid);
    assert.ok(r, 'no valid callback');
    assert.equal(validateAuthenticationHeader(cfg.appKey, cfg.otherSecret, r.headers, r.body, r.path, r.method), false, 'other secret');
    assert.equal(validateAuthenticationHeader(cfg.otherKey, cfg.appSecret, r.headers, r.body, r.path, r.method), false, 'other key');
    assert.equal(validateAuthenticationHeader(cfg.appKey, cfg.appSecret, r.headers, r.body, `${r.path}/x`, r.method), false, 'other path');
    assert.equal(validateAuthenticationHeader(cfg.appKey, cfg.appSecret, r.headers, `${r.body} `, r.path, r.method), false, 'other body');
  });

  await check('calls.get of an unknown call gets 404 with a VoiceError body', async () => {
    await expectSdkError(404, () => app.calls.get({ callId: 'c0ffee00-0000-4000-8000-000000000000' }));
  });

  // --- conferences -------------------------------------------------------------
  // Two conference callouts put two gateway calls into one room of the app:
  // A with conferences.call (greeting, mohClass, conferenceDtmfOptions,
  // DiCE only), B with callouts.conference (enableAce: its ACE reply,
  // continue, sends it on to the greeting and the room). The room is then
  // read and managed with sinch.voice.conferences; kickParticipant ends A,
  // kickAll ends B.
  const room = { id: 'conformance-room-1', callbacksFrom: callbacks.length };
  const confA = { custom: 'conformance-conf-a', to: { type: 'number', endpoint: '+12015550177' } };
  const confB = { custom: 'conformance-conf-b', to: { type: 'number', endpoint: '+12015550188' } };
  const noSuchCall = 'c0ffee00-0000-4000-8000-00000000c0f0';
  scenarios.set(confB.custom, {
    ace: () => new Voice.AceSvamletBuilder()
      .setAction(Voice.aceActionHelper.continue())
      .build(),
  });

  // participants reads the room; it fails on an SDK error.
  const participants = async (client = app) => {
    const res = await client.conferences.get({ conferenceId: room.id });
    assert.deepEqual(Object.keys(res), ['participants'], `conferences.get keys: ${JSON.stringify(res)}`);
    assert.ok(Array.isArray(res.participants), `participants is not an array: ${JSON.stringify(res)}`);
    return res.participants;
  };
  // waitParticipants polls the room until pred accepts its participants.
  // A 404 counts as no participants: the room exists from the first join,
  // which follows the callee's answer and greeting.
  const waitParticipants = (pred, ms, what) => poll(async () => {
    let ps;
    try {
      ps = await participants();
    } catch (err) {
      if (!(err instanceof RequestFailedError) || err.statusCode !== 404) throw err;
      return { done: pred([]), value: 'HTTP 404' };
    }
    return { done: pred(ps), value: ps };
  }, ms, what, 100);
  const ids = (ps) => ps.map((p) => p.id).sort();
  const find = (ps, callId) => ps.find((p) => p.id === callId);

  await check('conferences.get of an unknown room gets 404 with a VoiceError body', async () => {
    await expectSdkError(404, () => app.conferences.get({ conferenceId: 'conformance-no-such-room' }));
  });
  await check('conferences.kickAll and kickParticipant of an unknown room get 404 with a VoiceError body', async () => {
    await expectSdkError(404, () => app.conferences.kickAll({ conferenceId: 'conformance-no-such-room' }));
    await expectSdkError(404, () => app.conferences.kickParticipant({ conferenceId: 'conformance-no-such-room', callId: noSuchCall }));
  });
  await check('conferences.manageParticipant with an unknown command gets 400 with a VoiceError body', async () => {
    const body = await expectSdkError(400, () => app.conferences.manageParticipant({
      conferenceId: 'conformance-no-such-room',
      callId: noSuchCall,
      manageParticipantRequestBody: { command: 'deafen' },
    }));
    assert.match(body.message, /command/, `message does not name the field: ${JSON.stringify(body)}`);
  });

  await check('conferences.call (conferenceCallout with greeting, mohClass and conferenceDtmfOptions) is accepted: a callId, and calls.get reports ONGOING', async () => {
    confA.t0 = Date.now();
    const res = await app.conferences.call({
      conferenceCalloutRequestBody: {
        method: 'conferenceCallout',
        conferenceCallout: {
          cli,
          destination: confA.to,
          conferenceId: room.id,
          locale: 'en-US',
          greeting: 'Welcome to the conformance conference.',
          mohClass: 'music1',
          conferenceDtmfOptions: { mode: 'ignore', maxDigits: 1, timeoutMills: 3000 },
          enableDice: true,
          custom: confA.custom,
        },
      },
    });
    assert.match(res.callId, UUID, `callId: ${JSON.stringify(res)}`);
    confA.callId = res.callId;
    const info = await app.calls.get({ callId: res.callId });
    assert.equal(info.callId, res.callId);
    assert.equal(info.status, 'ONGOING', `status right after the callout: ${JSON.stringify(info)}`);
    assert.deepEqual(info.to, confA.to, `to: ${JSON.stringify(info)}`);
    assert.equal(info.custom, confA.custom, `custom: ${JSON.stringify(info)}`);
  });
  await check('callouts.conference with enableAce: a signed ACE reaches the callback URL; its reply (Voice.AceSvamletBuilder, continue) is accepted', async () => {
    confB.t0 = Date.now();
    const res = await app.callouts.conference({
      conferenceCalloutRequestBody: {
        method: 'conferenceCallout',
        conferenceCallout: {
          cli,
          destination: confB.to,
          conferenceId: room.id,
          greeting: 'Hello.',
          maxDuration: 120,
          enableAce: true,
          enableDice: true,
          custom: confB.custom,
        },
      },
    });
    assert.match(res.callId, UUID, `callId: ${JSON.stringify(res)}`);
    confB.callId = res.callId;
    const r = await waitEvent(confB.custom, 'ace', 10000);
    assertSigned(r);
    assert.equal(r.path, callbackPath, 'ACE path');
    assert.equal(r.event.callid, confB.callId, `callid: ${r.body}`);
  });
  await check('conferences.get lists both participants with exactly cli, id, duration, muted and onhold', async () => {
    assert.ok(confA.callId && confB.callId, 'no calls');
    const want = [confA.callId, confB.callId].sort();
    const ps = await waitParticipants((p) => JSON.stringify(ids(p)) === JSON.stringify(want), 20000, 'both participants in the room');
    for (const [c, p] of [[confA, find(ps, confA.callId)], [confB, find(ps, confB.callId)]]) {
      assert.deepEqual(Object.keys(p).sort(), ['cli', 'duration', 'id', 'muted', 'onhold'], `participant keys: ${JSON.stringify(p)}`);
      assert.equal(p.cli, c.to.endpoint, `cli of a callout's participant is its callee: ${JSON.stringify(p)}`);
      assert.ok(Number.isInteger(p.duration) && p.duration >= 0, `duration: ${JSON.stringify(p)}`);
      assert.ok(p.duration <= Math.ceil((Date.now() - c.t0) / 1000) + 1, `duration ${p.duration} s is longer than the call: ${JSON.stringify(p)}`);
      assert.equal(p.muted, false, `muted: ${JSON.stringify(p)}`);
      assert.equal(p.onhold, false, `onhold: ${JSON.stringify(p)}`);
    }
  });
  await check("another application does not see the room: conferences.get gets 404", async () => {
    await expectSdkError(404, () => other.conferences.get({ conferenceId: room.id }));
  });

  // manage runs one manageParticipant on A, which must answer 204, and
  // waits until conferences.get shows want.
  const manage = async (body, want) => {
    assert.ok(confA.callId, 'no call');
    await expectNoContent('ManageConferenceParticipant', () => app.conferences.manageParticipant({
      conferenceId: room.id,
      callId: confA.callId,
      manageParticipantRequestBody: body,
    }));
    await waitParticipants((ps) => {
      const p = find(ps, confA.callId);
      return p !== undefined && p.muted === want.muted && p.onhold === want.onhold;
    }, 5000, `participant A with ${JSON.stringify(want)}`);
  };
  await check('conferences.manageParticipant mute answers 204 and conferences.get shows muted', async () => {
    await manage({ command: 'mute' }, { muted: true, onhold: false });
  });
  await check('conferences.manageParticipant unmute answers 204 and conferences.get shows it unmuted', async () => {
    await manage({ command: 'unmute' }, { muted: false, onhold: false });
  });
  await check('conferences.manageParticipant onhold with moh music2 answers 204 and conferences.get shows onhold', async () => {
    await manage({ command: 'onhold', moh: 'music2' }, { muted: false, onhold: true });
  });
  await check('conferences.manageParticipant resume answers 204 and conferences.get shows it back', async () => {
    await manage({ command: 'resume' }, { muted: false, onhold: false });
    const p = find(await participants(), confB.callId);
    assert.ok(p && !p.muted && !p.onhold, `B was changed by commands for A: ${JSON.stringify(p)}`);
  });
  await check('conferences.manageParticipant of a call that is not in the room gets 404', async () => {
    await expectSdkError(404, () => app.conferences.manageParticipant({
      conferenceId: room.id,
      callId: noSuchCall,
      manageParticipantRequestBody: { command: 'mute' },
    }));
  });

  await check("conferences.kickParticipant answers 204: the participant's call ends (signed DiCE ANSWERED/MANAGERHANGUP) and it leaves the room", async () => {
    assert.ok(confA.callId, 'no call');
    await expectNoContent('KickConferenceParticipant', () => app.conferences.kickParticipant({
      conferenceId: room.id, callId: confA.callId,
    }));
    const d = await waitEvent(confA.custom, 'dice', 10000);
    assertSigned(d);
    assert.equal(d.path, callbackPath, 'DiCE path');
    assert.equal(d.event.callid, confA.callId, `callid: ${d.body}`);
    assert.equal(d.event.result, 'ANSWERED', `result: ${d.body}`);
    assert.equal(d.event.reason, 'MANAGERHANGUP', `reason: ${d.body}`);
    await waitParticipants((ps) => JSON.stringify(ids(ps)) === JSON.stringify([confB.callId]), 5000, 'only B in the room');
    const info = await waitCall(confA.callId, (i) => i.status === 'FINAL', 5000, 'status FINAL');
    assertFinal(info, confA.callId, { result: 'ANSWERED', reason: 'MANAGERHANGUP', minDuration: 0, after: confA.t0, to: confA.to, custom: confA.custom });
  });
  await check('conferences.kickParticipant of the kicked call gets 404', async () => {
    assert.ok(confA.callId, 'no call');
    await expectSdkError(404, () => app.conferences.kickParticipant({ conferenceId: room.id, callId: confA.callId }));
  });
  await check('conferences.kickAll answers 204: the last call ends (signed DiCE ANSWERED/MANAGERHANGUP) and the room is gone', async () => {
    assert.ok(confB.callId, 'no call');
    await expectNoContent('KickConferenceAll', () => app.conferences.kickAll({ conferenceId: room.id }));
    const d = await waitEvent(confB.custom, 'dice', 10000);
    assertSigned(d);
    assert.equal(d.event.callid, confB.callId, `callid: ${d.body}`);
    assert.equal(d.event.result, 'ANSWERED', `result: ${d.body}`);
    assert.equal(d.event.reason, 'MANAGERHANGUP', `reason: ${d.body}`);
    const info = await waitCall(confB.callId, (i) => i.status === 'FINAL', 5000, 'status FINAL');
    assertFinal(info, confB.callId, { result: 'ANSWERED', reason: 'MANAGERHANGUP', minDuration: 0, after: confB.t0, to: confB.to, custom: confB.custom });
    // The room closes with its last participant (reference: rooms exist
    // while they have participants): 404, as an unknown room.
    await poll(async () => {
      try {
        const ps = await participants();
        return { done: false, value: ps };
      } catch (err) {
        if (err instanceof RequestFailedError && err.statusCode === 404) return { done: true, value: err.statusCode };
        throw err;
      }
    }, 5000, 'conferences.get of the emptied room answering 404', 100);
  });
  await check('conference callbacks: every one signed and on the callback URL (A: DiCE; B: ACE, DiCE), and no other came', async () => {
    const got = callbacks.slice(room.callbacksFrom);
    for (const r of got) assertSigned(r);
    const summary = got.map((r) => `${r.event.custom}:${r.event.event}:${r.path}`).sort();
    const want = [
      `${confA.custom}:dice:${callbackPath}`,
      `${confB.custom}:ace:${callbackPath}`, `${confB.custom}:dice:${callbackPath}`,
    ].sort();
    assert.deepEqual(summary, want, `callbacks: ${summarize()}`);
  });

  // Whatever failed above, no conference call may stay up: the gateway
  // requires that the node hung up every call.
  for (const c of [confA, confB]) {
    if (!c.callId) continue;
    try {
      const info = await app.calls.get({ callId: c.callId });
      if (info.status !== 'FINAL') {
        console.log(`# hanging up the conference call ${c.callId} left up by a failed check`);
        await app.calls.update({ callId: c.callId, updateCallRequestBody: { action: Voice.svamlActionHelper.buildHangup() } });
        await waitCall(c.callId, (i) => i.status === 'FINAL', 5000, 'status FINAL');
      }
    } catch (err) {
      console.log(`# cleaning up the conference call ${c.callId}: ${describe(err)}`);
    }
  }
}

try {
  await new Promise((resolve, reject) => {
    callbackServer.once('error', reject);
    callbackServer.listen(0, '127.0.0.1', resolve);
  });
} catch (err) {
  console.log(`Bail out! callback server: ${describe(err)}`);
  process.exit(2);
}
console.log(`# callback server listening on http://127.0.0.1:${callbackServer.address().port}`);

try {
  await main();
} catch (err) {
  console.log(`Bail out! ${describe(err)}`);
  console.log(`${passed} passed, ${failed + 1} failed`);
  process.exit(2);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
