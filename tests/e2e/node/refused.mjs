// A connection the server refuses (unknown key 4001, app disabled 4003, over
// max_connections 4004): pusher-js reports the code, ends up disconnected/failed and does
// not retry.
// argv: --key <app key to connect with> [--hold <connections to open first>]
import { args, client, scenario, sleep, waitFor } from './lib.mjs';

scenario(async (report) => {
  const options = args({ hold: 0 });
  const held = [];
  for (let i = 0; i < Number(options.hold); i += 1) {
    const c = client(`held${i}`, { key: options.key });
    await c.connected();
    held.push(c);
  }
  const c = client('refused', { key: options.key });
  await waitFor('an error and a final state', () =>
    c.errors.length > 0 && ['disconnected', 'failed', 'unavailable'].includes(c.state),
  );
  // pusher-js would retry a 41xx close after 1 s and a 42xx close at once.
  await sleep(1500);
  report.states = c.states;
  report.state = c.state;
  report.connecting_attempts = c.states.filter((s) => s === 'connecting').length;
  report.errors = c.errors;
  report.socket_id = c.socketId ?? null;
  report.held_states = held.map((h) => h.state);
});
