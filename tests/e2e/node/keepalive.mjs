// Keep-alive with a short activity_timeout: pusher-js adopts it from the handshake, the
// server answers pusher-js's pusher:ping and pusher-js answers the server's, so the
// connection survives several timeouts.
// argv: --seconds <how long to watch>
import { args, client, scenario, sleep } from './lib.mjs';

scenario(async (report) => {
  const seconds = Number(args({ seconds: 3.5 }).seconds);
  const c = client('idle');
  const socketId = await c.connected();
  report.activity_timeout_ms = c.pusher.connection.activityTimeout;
  await sleep(seconds * 1000);
  report.socket_id_unchanged = c.socketId === socketId;
  report.states = c.states;
  report.state = c.state;
  report.errors = c.errors;
  report.pongs_received = c.log.filter((m) => m.event === 'pusher:pong').length;
  report.pings_received = c.log.filter((m) => m.event === 'pusher:ping').length;
});
