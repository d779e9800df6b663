// More than client_event_rate (10) client events per second: pusher:error 4301, seen by
// pusher-js through connection.bind('error'), and the excess is dropped.
// argv: --count <events to send in one burst>
import { RUN, args, client, json, scenario, sdk, waitFor } from './lib.mjs';

scenario(async (report) => {
  const count = Number(args({ count: 25 }).count);
  const channelName = `private-burst-${RUN}`;
  const a = client('a');
  const b = client('b');
  await Promise.all([a.connected(), b.connected()]);
  const channelA = await a.subscribe(channelName);
  const channelB = await b.subscribe(channelName);
  const gotB = [];
  channelB.bind('client-burst', (data) => gotB.push(data.n));
  channelB.bind('control', () => gotB.push('control'));
  const seenByBind = [];
  a.pusher.connection.bind('error', (error) => seenByBind.push(error?.data?.code ?? null));

  for (let n = 0; n < count; n += 1) {
    channelA.trigger('client-burst', { n });
  }
  // Once the ping is answered the server has handled the whole burst.
  await a.roundTrip();
  await json(sdk().trigger(channelName, 'control', {}));
  await waitFor('the control event on b', () => gotB.includes('control'));
  report.sent = count;
  report.b_received = gotB.filter((n) => n !== 'control');
  report.error_codes_seen_by_bind = seenByBind;
  report.a_state = a.state;
  report.b_errors = b.errors;
});
