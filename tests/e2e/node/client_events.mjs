// Client events on private and presence channels: delivered to the other subscribers,
// never echoed to the sender, with user_id added on presence channels.
import { RUN, client, scenario, waitFor } from './lib.mjs';

async function exchange(report, label, channelName, optionsA, optionsB) {
  const a = client(`${label}-a`, optionsA);
  const b = client(`${label}-b`, optionsB);
  await Promise.all([a.connected(), b.connected()]);
  const channelA = await a.subscribe(channelName);
  const channelB = await b.subscribe(channelName);
  const gotA = [];
  const gotB = [];
  // Named bindings: pusher-js passes the presence sender as metadata.user_id to these.
  for (const [channel, got] of [[channelA, gotA], [channelB, gotB]]) {
    for (const event of ['client-typing', 'client-reply']) {
      channel.bind(event, (data, metadata) => {
        got.push({ event, data, user_id: metadata?.user_id ?? null });
      });
    }
  }

  report[`${label}_trigger_result`] = channelA.trigger('client-typing', { from: 'a', text: 'hi' });
  await waitFor(`${label}: b to get client-typing`, () => gotB.length > 0);
  // b answers; a's own event, had it been echoed, would have reached a before this.
  channelB.trigger('client-reply', { from: 'b' });
  await waitFor(`${label}: a to get client-reply`, () => gotA.length > 0);
  // And b's echo, had there been one, arrives before the answer to a ping.
  await b.roundTrip();
  report[`${label}_a_received`] = gotA;
  report[`${label}_b_received`] = gotB;
  report[`${label}_b_wire`] = b.received(channelName, 'client-typing');
  report[`${label}_errors`] = [...a.errors, ...b.errors];
}

scenario(async (report) => {
  await exchange(report, 'private', `private-chat-${RUN}`, {}, {});
  await exchange(
    report,
    'presence',
    `presence-chat-${RUN}`,
    { presence: { user_id: 'agent-a', user_info: { name: 'A' } } },
    { presence: { user_id: 'agent-b', user_info: { name: 'B' } } },
  );
});
