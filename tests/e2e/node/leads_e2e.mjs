// Leads end to end against a running `leadcast up`: real pusher-js clients authorise their
// private channels through the lead API's /api/broadcasting/auth (transport 'ajax', a Bearer
// token), exactly as the dashboard does, and receive `lead.distributed` after the test has
// submitted a lead through POST /api/leads.
//
// Environment (besides lib.mjs's LEADCAST_HOST / LEADCAST_PORT = the real-time server and
// LEADCAST_APP_* = the app `leadcast up` serves):
//   LEADCAST_API_URL   the lead API, e.g. http://127.0.0.1:8001
// argv:
//   --pm <id> --token <token>              the PM whose lead this is
//   --other-pm <id> --other-token <token>  another PM (the lead also goes to them)
//   --admin-token <token>                  an admin (may not subscribe to any PM channel)
//
// Protocol: once every subscription has succeeded or failed, one line {"ready": true, ...} is
// written to stdout; the test then submits the lead. When both PMs have received their
// `lead.distributed` (and a ping round trip has flushed anything still on the wire), the
// result is the last JSON line, as in every scenario here. Every wait is bounded.
import { PusherJs, WAIT_MS, args, clientOptions, scenario, sleep, track, waitFor } from './lib.mjs';

const EVENT = 'lead.distributed';

function required(options, name) {
  const value = options[name];
  if (value === undefined || value === true) {
    throw new Error(`--${name} is required`);
  }
  return String(value);
}

/** A pusher-js client authorising channels through the lead API with `headers`. */
function apiClient(name, headers) {
  const apiUrl = process.env.LEADCAST_API_URL;
  if (!apiUrl) {
    throw new Error('LEADCAST_API_URL is not set');
  }
  return track(
    new PusherJs(
      process.env.LEADCAST_APP_KEY,
      clientOptions({
        channelAuthorization: {
          endpoint: `${apiUrl}/api/broadcasting/auth`,
          transport: 'ajax',
          headers,
        },
      }),
    ),
    name,
  );
}

/** Subscribe, recording events and the outcome (succeeded, or the subscription error). */
function watch(c, channelName) {
  const channel = c.pusher.subscribe(channelName);
  const state = { channel: channelName, events: [], error: null, succeeded: false };
  channel.bind('pusher:subscription_succeeded', () => {
    state.succeeded = true;
  });
  channel.bind('pusher:subscription_error', (error) => {
    state.error = error;
  });
  channel.bind(EVENT, (data) => state.events.push(data));
  return state;
}

scenario(
  async (report) => {
    const options = args();
    const pm = required(options, 'pm');
    const other = required(options, 'other-pm');
    const own = `private-property-manager.${pm}`;
    const otherOwn = `private-property-manager.${other}`;

    const clients = {
      pm: apiClient('pm', { Authorization: `Bearer ${required(options, 'token')}` }),
      other: apiClient('other', { Authorization: `Bearer ${required(options, 'other-token')}` }),
      anonymous: apiClient('anonymous', {}),
      bogus: apiClient('bogus', { Authorization: 'Bearer lct_not-a-real-token' }),
      admin: apiClient('admin', { Authorization: `Bearer ${required(options, 'admin-token')}` }),
    };
    await Promise.all(Object.values(clients).map((c) => c.connected()));

    const subs = {
      pm: watch(clients.pm, own),
      other_own: watch(clients.other, otherOwn),
      other_on_pm: watch(clients.other, own),
      anonymous: watch(clients.anonymous, own),
      bogus: watch(clients.bogus, own),
      admin: watch(clients.admin, own),
    };
    await waitFor('every subscription to succeed or fail', () =>
      Object.values(subs).every((s) => s.succeeded || s.error),
    );
    const outcome = (s) => ({ channel: s.channel, succeeded: s.succeeded, error: s.error });
    report.subscriptions = Object.fromEntries(
      Object.entries(subs).map(([name, s]) => [name, outcome(s)]),
    );
    report.socket_ids = Object.fromEntries(
      Object.entries(clients).map(([name, c]) => [name, c.socketId]),
    );
    // Both PMs must be subscribed before the lead is submitted, or there is nothing to test.
    if (!subs.pm.succeeded || !subs.other_own.succeeded) {
      throw new Error(`a PM could not subscribe to their own channel: ${JSON.stringify(report)}`);
    }
    process.stdout.write(`${JSON.stringify({ ready: true, socket_ids: report.socket_ids })}\n`);

    const started = Date.now();
    await waitFor(
      `${EVENT} on ${own} and ${otherOwn}`,
      () => subs.pm.events.length > 0 && subs.other_own.events.length > 0,
      Number(options['wait-ms'] ?? WAIT_MS),
    );
    report.received_after_ms = Date.now() - started;
    // Anything else still on its way (a duplicate, a leak to another socket) arrives before
    // the pong of a ping sent now, since the server handles each connection in order.
    await sleep(300);
    await Promise.all(Object.values(clients).map((c) => c.roundTrip()));

    report.pm_events = subs.pm.events;
    report.other_events = subs.other_own.events;
    report.leaked_events = {
      other_on_pm: subs.other_on_pm.events,
      anonymous: subs.anonymous.events,
      bogus: subs.bogus.events,
      admin: subs.admin.events,
    };
    // Every protocol message each client saw on the wire, per channel (pings excluded).
    report.wire = Object.fromEntries(
      Object.entries(clients).map(([name, c]) => [
        name,
        c.log
          .filter((m) => m.channel)
          .map((m) => ({ channel: m.channel, event: m.event, data: m.data })),
      ]),
    );
    report.connection_errors = Object.fromEntries(
      Object.entries(clients).map(([name, c]) => [name, c.errors]),
    );
    report.states = Object.fromEntries(Object.entries(clients).map(([name, c]) => [name, c.state]));
  },
  { deadlineMs: Number(process.env.LEADCAST_DEADLINE_MS || 40000) },
);
