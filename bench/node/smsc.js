// bench/sender.py's other SMSC: node-smpp's server, as its README shows, answering every
// submit_sm with a message id and, when registered_delivery asks, a delivery receipt
// after --receipt-delay-ms, on the bind that submitted it.
//
//     node smsc.js [--host 127.0.0.1] [--port 0] [--control-port 0]
//                  [--system-id ID --password PW] [--receipt-delay-ms 50]
//
// Prints one line once listening, in the form `herald simulator` prints, so the bench
// starts both alike:
//     node-smpp SMSC listening on HOST:PORT control http://HOST:CONTROL_PORT
// and serves the part of the simulator's control API the bench reads (JSON over HTTP):
//     GET  /stats              counters (the simulator's names; those it never counts are 0)
//     GET  /destinations?min=N accepted submits per destination_addr (at least N)
//     POST /reset              forget counters, destinations and the receipts not yet due
// Runs until SIGTERM or SIGINT.
'use strict';

const http = require('http');
const smpp = require('smpp');

function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 && at + 1 < process.argv.length ? process.argv[at + 1] : fallback;
}

const host = option('host', '127.0.0.1');
const port = Number(option('port', '0'));
const controlPort = Number(option('control-port', '0'));
const systemId = option('system-id', null); // null: any system_id and password bind
const password = option('password', null);
const receiptDelayMs = Number(option('receipt-delay-ms', '50'));

const COUNTERS = ['accepted', 'throttled', 'queue_full', 'submit_errors', 'receipts_sent',
  'receipts_acked', 'receipts_given_up', 'receipts_lost', 'drops', 'binds'];
let counters = {};
let perDestination = new Map();
let due = []; // receipts owed, oldest first: [time due, session, deliver_sm options]
let dueFrom = 0; // due[dueFrom] is the next one
let timer = null;
let nextId = 1;
let generation = 0; // bumped by /reset: acks of receipts sent before it are not counted

function reset() {
  counters = Object.fromEntries(COUNTERS.map((name) => [name, 0]));
  perDestination = new Map();
  due = [];
  dueFrom = 0;
  generation += 1;
}
reset();

let dateMinute = -1;
let dateText = '';
function receiptDate(ms) {
  // YYMMDDhhmm in UTC, computed once a minute.
  const minute = Math.floor(ms / 60000);
  if (minute !== dateMinute) {
    const iso = new Date(ms).toISOString(); // 2026-12-03T15:04:05.000Z
    dateText = iso.slice(2, 4) + iso.slice(5, 7) + iso.slice(8, 10) + iso.slice(11, 13)
      + iso.slice(14, 16);
    dateMinute = minute;
  }
  return dateText;
}

function receipt(pdu, messageId, now) {
  // The de facto standard text (SMPP 3.4 Appendix B), and the TLVs that say the same.
  const text = typeof pdu.short_message === 'object' && pdu.short_message.message !== undefined
    ? String(pdu.short_message.message) : String(pdu.short_message || '');
  const date = receiptDate(now);
  return {
    source_addr_ton: pdu.dest_addr_ton, source_addr_npi: pdu.dest_addr_npi,
    source_addr: pdu.destination_addr,
    dest_addr_ton: pdu.source_addr_ton, dest_addr_npi: pdu.source_addr_npi,
    destination_addr: pdu.source_addr,
    esm_class: smpp.ESM_CLASS.MC_DELIVERY_RECEIPT,
    short_message: `id:${messageId} sub:001 dlvrd:001 submit date:${date} done date:${date}`
      + ` stat:DELIVRD err:000 text:${text.slice(0, 20)}`,
    receipted_message_id: messageId,
    message_state: smpp.MESSAGE_STATE.DELIVERED,
  };
}

function deliverDue() {
  timer = null;
  const now = Date.now();
  while (dueFrom < due.length && due[dueFrom][0] <= now) {
    const [, session, options] = due[dueFrom];
    due[dueFrom++] = null;
    if (session.closed) {
      counters.receipts_lost += 1;
      continue;
    }
    const sentIn = generation;
    session.owed += 1;
    const sent = session.deliver_sm(options, (resp) => {
      session.owed -= 1;
      if (sentIn === generation && resp.command_status === 0) counters.receipts_acked += 1;
    });
    if (sent) {
      counters.receipts_sent += 1;
    } else {
      session.owed -= 1;
      counters.receipts_lost += 1;
    }
  }
  if (dueFrom > 4096 && dueFrom * 2 > due.length) { // drop the delivered head now and then
    due = due.slice(dueFrom);
    dueFrom = 0;
  }
  if (dueFrom < due.length) timer = setTimeout(deliverDue, Math.max(0, due[dueFrom][0] - now));
}

function bind(session, pdu) {
  if (systemId !== null && (pdu.system_id !== systemId || pdu.password !== password)) {
    session.send(pdu.response({ command_status: smpp.ESME_RBINDFAIL }));
    session.close();
    return;
  }
  counters.binds += 1;
  session.send(pdu.response({ system_id: 'node-smpp' }));
}

const server = smpp.createServer((session) => {
  session.closed = false;
  session.owed = 0; // receipts sent and not yet acknowledged
  for (const mode of ['bind_transceiver', 'bind_transmitter', 'bind_receiver']) {
    session.on(mode, (pdu) => bind(session, pdu));
  }
  session.on('submit_sm', (pdu) => {
    const messageId = (nextId++).toString(16);
    session.send(pdu.response({ message_id: messageId }));
    counters.accepted += 1;
    const number = String(pdu.destination_addr);
    perDestination.set(number, (perDestination.get(number) || 0) + 1);
    if (pdu.registered_delivery & 0x03) {
      const now = Date.now();
      due.push([now + receiptDelayMs, session, receipt(pdu, messageId, now)]);
      if (timer === null) timer = setTimeout(deliverDue, receiptDelayMs);
    }
  });
  session.on('enquire_link', (pdu) => session.send(pdu.response()));
  session.on('unbind', (pdu) => {
    session.send(pdu.response());
    session.close();
  });
  session.on('error', () => {}); // a client that resets its connection; 'close' follows
  session.on('close', () => {
    session.closed = true;
    counters.receipts_lost += session.owed; // sent, never acknowledged
    session.owed = 0;
  });
});
server.on('error', (error) => {
  process.stderr.write(`smsc.js: ${error.stack || error}\n`);
  process.exit(1);
});

function json(response, status, body) {
  response.writeHead(status, { 'Content-Type': 'application/json' });
  response.end(JSON.stringify(body));
}

const control = http.createServer((request, response) => {
  const url = new URL(request.url, 'http://control');
  request.resume(); // a body, if any, is not read
  if (request.method === 'GET' && url.pathname === '/stats') {
    json(response, 200, { ...counters, connections: server.sessions.length,
      deliveries_pending: due.length - dueFrom });
  } else if (request.method === 'GET' && url.pathname === '/destinations') {
    const least = Number(url.searchParams.get('min') || '1');
    const counts = {};
    for (const [number, count] of perDestination) if (count >= least) counts[number] = count;
    json(response, 200, counts);
  } else if (request.method === 'POST' && url.pathname === '/reset') {
    reset();
    json(response, 200, { reset: true });
  } else {
    json(response, 404, { error: `${request.method} ${url.pathname}: not served here` });
  }
});

server.listen(port, host, () => {
  control.listen(controlPort, host, () => {
    process.stdout.write(`node-smpp SMSC listening on ${host}:${server.address().port}`
      + ` control http://${host}:${control.address().port}\n`);
  });
});

for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
