// bench/sender.py's peer: a node-smpp client as its README shows, with a submit window.
//
//     node peer_client.js --host H --port P --system-id ID --password PW --messages N
//                         [--window 100] [--receipts 1] [--receipt-wait 5] [--timeout 600]
//
// Binds transceiver, then submits message i to +86 (13800000000 + i), the text and source
// bench/sender.py's workload gives, keeping at most --window submits unanswered;
// registered_delivery 1 when --receipts is 1. It answers every deliver_sm and counts the
// distinct receipts. It is done when every submit is answered and, when asked for, a
// receipt came for every accepted one; or --receipt-wait seconds after its last submit
// once all went out; or at --timeout. A dropped connection is bound again and the sending
// goes on; the submits it had in flight are never answered (`unknown`), not resent.
//
// Prints one JSON line, the shape of bench/sender.py's child report:
//     {"run": {messages, accepted, rejected, receipts, seconds, submit_seconds,
//              receipt_seconds, timed_out, extra: {...}, msg_per_s, dlr_per_s},
//      "peak_rss_mb": ...}
// with the clocks of bench/sender.py's Tally: from just before the first submit (after
// the bind) to the last submit_sm_resp, the last receipt, or done.
'use strict';

const fs = require('fs');
const { performance } = require('perf_hooks');
const smpp = require('smpp');

function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  if (at > 0 && at + 1 < process.argv.length) return process.argv[at + 1];
  if (fallback === undefined) throw new Error(`--${name} is needed`);
  return fallback;
}

const host = option('host');
const port = Number(option('port'));
const systemId = option('system-id');
const password = option('password');
const messages = Number(option('messages'));
const window = Number(option('window', '100'));
const receiptsWanted = option('receipts', '1') === '1';
const receiptWaitMs = 1000 * Number(option('receipt-wait', '5'));
const timeoutMs = 1000 * Number(option('timeout', '600'));

const FIRST_NUMBER = 13800000000; // bench/sender.py's: one number per message
const SOURCE = '10690000';
const RECONNECT_MS = 100;

let accepted = 0;
let rejected = 0;
let throttled = 0;
let receipts = 0;
let unmatchedReceipts = 0;
let repeatedReceipts = 0;
let reconnects = 0;
let writes = 0;
let started = 0;
let lastAnswer = 0;
let lastReceipt = 0;
let lastWrite = 0;
let next = 0; // the next message to submit
let inFlight = 0;
let finished = false;
let session = null;
let waitTimer = null;
let cpuBefore = null;
let waitedBefore = null;
const sentIds = new Map(); // SMSC message id -> message index, to match receipts
const receipted = new Set();

function submit(index) {
  inFlight += 1;
  const bound = session;
  const ok = session.submit_sm({
    source_addr: SOURCE,
    dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: `86${FIRST_NUMBER + index}`,
    short_message: `Herald bench message ${index}: your code is 2468`,
    registered_delivery: receiptsWanted ? 1 : 0,
  }, (pdu) => {
    if (bound !== session) return; // an answer on a connection since dropped
    inFlight -= 1;
    lastAnswer = performance.now();
    if (pdu.command_status === smpp.ESME_ROK) {
      accepted += 1;
      sentIds.set(String(pdu.message_id), index);
    } else {
      rejected += 1;
      throttled += pdu.command_status === smpp.ESME_RTHROTTLED;
    }
    check();
    pump();
  });
  if (!ok) { // the socket is no longer writable: the close handler binds again
    inFlight -= 1;
    next = index;
    return false;
  }
  writes += 1;
  lastWrite = performance.now();
  if (next === messages) waitForReceipts();
  return true;
}

function pump() {
  while (!finished && session.bound && inFlight < window && next < messages) {
    if (!submit(next++)) return;
  }
}

function onDeliverSm(pdu) {
  session.send(pdu.response());
  if (!(pdu.esm_class & smpp.ESM_CLASS.MC_DELIVERY_RECEIPT)) return;
  let id = pdu.receipted_message_id;
  if (!id) {
    const text = typeof pdu.short_message === 'object' ? String(pdu.short_message.message)
      : String(pdu.short_message);
    const match = /id:(\S+)/.exec(text);
    id = match ? match[1] : '';
  }
  id = String(id);
  if (receipted.has(id)) {
    repeatedReceipts += 1;
    return;
  }
  receipted.add(id);
  receipts += 1;
  unmatchedReceipts += !sentIds.has(id);
  lastReceipt = performance.now();
  check();
}

function check() {
  if (accepted + rejected >= messages && (!receiptsWanted || receipts >= accepted)) {
    finish(false);
  }
}

function waitForReceipts() {
  // Every message went out: wait at most receiptWaitMs more for what is still owed.
  if (waitTimer === null) waitTimer = setTimeout(() => finish(false), receiptWaitMs);
}

function connect() {
  const current = smpp.connect({ host, port });
  session = current;
  current.bound = false;
  current.on('error', () => {}); // 'close' follows
  current.on('close', () => {
    if (finished || current !== session) return;
    if (!started) fail(`could not connect and bind to ${host}:${port}`);
    reconnects += 1;
    inFlight = 0; // their answers will never come: unknown
    setTimeout(connect, RECONNECT_MS);
  });
  current.on('deliver_sm', onDeliverSm);
  current.on('enquire_link', (pdu) => current.send(pdu.response()));
  current.bind_transceiver({ system_id: systemId, password }, (pdu) => {
    if (pdu.command_status !== smpp.ESME_ROK) {
      fail(`bind_transceiver answered ${pdu.command_status}`);
      return;
    }
    current.bound = true;
    if (!started) {
      cpuBefore = process.cpuUsage();
      waitedBefore = runQueueSeconds();
      started = performance.now();
    }
    pump();
  });
}

// Seconds the JS thread waited for a core while runnable (Linux's /proc/self/schedstat,
// the main thread's): the figure the Herald side reports for its sender.
function runQueueSeconds() {
  try {
    return Number(fs.readFileSync('/proc/self/schedstat', 'utf8').split(' ')[1]) / 1e9;
  } catch {
    return null;
  }
}

function fail(message) {
  finished = true;
  process.stdout.write(`${JSON.stringify({ error: message })}\n`);
  process.exit(1);
}

function finish(timedOut) {
  if (finished) return;
  finished = true;
  const stop = performance.now();
  const cpu = process.cpuUsage(cpuBefore);
  const waitedNow = runQueueSeconds();
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const unsettled = accepted + rejected < messages;
  const end = timedOut ? stop : Math.max(lastAnswer, lastReceipt, started);
  const answerEnd = timedOut && unsettled ? stop : lastAnswer;
  const submitSeconds = Math.max(0, answerEnd - started) / 1000;
  const receiptSeconds = receipts ? Math.max(0, lastReceipt - started) / 1000 : 0;
  const run = {
    messages, accepted, rejected, receipts,
    seconds: (end - started) / 1000, submit_seconds: submitSeconds,
    receipt_seconds: receiptSeconds, timed_out: timedOut,
    extra: {
      client: `node-smpp ${require('smpp/package.json').version} on node ${process.version}`,
      window, unknown: Math.max(0, messages - accepted - rejected), throttled,
      unmatched_receipts: unmatchedReceipts, repeated_receipts: repeatedReceipts, reconnects,
      cpu_seconds: Math.round(cpuSeconds * 100) / 100,
      cpu_us_per_message: Math.round(10 * 1e6 * cpuSeconds / Math.max(1, accepted)) / 10,
      run_queue_wait_seconds: waitedBefore === null || waitedNow === null ? null
        : Math.round(1000 * (waitedNow - waitedBefore)) / 1000,
    },
    msg_per_s: submitSeconds ? accepted / submitSeconds : 0,
    dlr_per_s: receiptSeconds ? receipts / receiptSeconds : 0,
  };
  const peakRssMb = process.resourceUsage().maxRSS / 1024; // maxRSS is in kilobytes
  process.stdout.write(`${JSON.stringify({ run, peak_rss_mb: peakRssMb })}\n`);
  const done = () => process.exit(0);
  setTimeout(done, 2000).unref(); // an SMSC that never answers the unbind
  if (session.bound) session.unbind(() => session.close(done));
  else done();
}

setTimeout(() => finish(true), timeoutMs).unref();
connect();
