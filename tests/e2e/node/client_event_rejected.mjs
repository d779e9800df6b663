// A client event the server must refuse: the sender gets pusher:error without a code, the
// connection stays open and the other subscriber receives nothing.
// argv: --channel <channel name prefix, e.g. "feed-" (public) or "private-x-">
import { RUN, args, client, json, scenario, sdk, waitFor } from './lib.mjs';

scenario(async (report) => {
  const { channel: prefix } = args({ channel: 'feed-' });
  const channelName = `${prefix}${RUN}`;
  const a = client('a');
  const b = client('b');
  await Promise.all([a.connected(), b.connected()]);
  const channelA = await a.subscribe(channelName);
  const channelB = await b.subscribe(channelName);
  const gotB = [];
  channelB.bind_global((event, data) => {
    if (!event.startsWith('pusher:')) gotB.push({ event, data });
  });

  channelA.trigger('client-hello', { from: 'a' });
  await waitFor('a pusher:error', () => a.log.some((m) => m.event === 'pusher:error'));
  await json(sdk().trigger(channelName, 'control', { after: 'client-hello' }));
  await waitFor('the control event on b', () => gotB.some((e) => e.event === 'control'));
  await a.roundTrip();
  report.channel = channelName;
  report.a_errors = a.errors;
  report.a_error_messages = a.log.filter((m) => m.event === 'pusher:error').map((m) => m.data);
  report.a_state = a.state;
  report.b_received = gotB;
});
