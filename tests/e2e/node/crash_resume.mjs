// A pusher-js client that outlives a `leadcast up`: it authorises the PM's private channel
// through the lead API's /api/broadcasting/auth (transport 'ajax', a Bearer token) as the
// dashboard does, subscribes, and then just listens while the test submits a lead, kills
// `leadcast up` with SIGKILL and starts it again on the same database.
//
// Environment: as lib.mjs (LEADCAST_HOST / LEADCAST_PORT = the real-time server, which keeps
// running throughout; LEADCAST_APP_*), and LEADCAST_API_URL = the first `leadcast up`'s API.
// argv: --pm <id> --token <token>
//
// Protocol: once subscribed, one line {"ready": true} on stdout; every lead.distributed is
// reported as it arrives ({"received": n}). When the test writes "finish" on stdin (after the
// relay has marked the outbox rows sent), a ping round trip flushes anything still on the
// wire, and the result line lists every event and every message on the channel.
import { createInterface } from 'node:readline';

import { PusherJs, args, clientOptions, scenario, track } from './lib.mjs';

const EVENT = 'lead.distributed';

scenario(
  async (report) => {
    const options = args();
    if (!options.pm || !options.token) {
      throw new Error('--pm and --token are required');
    }
    const channelName = `private-property-manager.${options.pm}`;
    const pm = track(
      new PusherJs(
        process.env.LEADCAST_APP_KEY,
        clientOptions({
          channelAuthorization: {
            endpoint: `${process.env.LEADCAST_API_URL}/api/broadcasting/auth`,
            transport: 'ajax',
            headers: { Authorization: `Bearer ${options.token}` },
          },
        }),
      ),
      'pm',
    );
    await pm.connected();
    const channel = await pm.subscribe(channelName);
    const events = [];
    channel.bind(EVENT, (data) => {
      events.push(data);
      process.stdout.write(`${JSON.stringify({ received: events.length })}\n`);
    });
    const finish = new Promise((resolve) => {
      createInterface({ input: process.stdin }).on('line', (line) => {
        if (line.trim() === 'finish') {
          resolve();
        }
      });
    });
    process.stdout.write(`${JSON.stringify({ ready: true, socket_id: pm.socketId })}\n`);
    await finish;
    await pm.roundTrip();
    report.events = events;
    report.wire = pm.received(channelName).map((m) => m.event);
    report.states = pm.states;
    report.errors = pm.errors;
  },
  { deadlineMs: Number(process.env.LEADCAST_DEADLINE_MS || 120000) },
);
