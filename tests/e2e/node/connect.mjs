// pusher-js connects: socket ids, the handshake's activity timeout, pusher:ping/pong.
import { client, scenario } from './lib.mjs';

scenario(async (report) => {
  const a = client('a');
  const b = client('b');
  report.socket_ids = [await a.connected(), await b.connected()];
  // pusher-js keeps min(its own 120 s, the server's activity_timeout) in milliseconds.
  report.activity_timeout_ms = a.pusher.connection.activityTimeout;
  await a.roundTrip();
  report.pong = a.log.find((m) => m.event === 'pusher:pong') ?? null;
  report.states = a.states;
  report.errors = [...a.errors, ...b.errors];
});
