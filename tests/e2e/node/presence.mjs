// Presence: members hash/count, member_added/member_removed, and one member per user
// across connections (added on the first, removed when the last one leaves).
import { RUN, client, json, scenario, sdk, sleep, waitFor } from './lib.mjs';

scenario(async (report) => {
  const channelName = `presence-office-${RUN}`;
  const api = sdk();
  // user_id 10 is a number on purpose: the server turns it into the string "10".
  const ada = client('ada', { presence: { user_id: 10, user_info: { name: 'Ada' } } });
  const bob1 = client('bob1', { presence: { user_id: 'bob', user_info: { name: 'Bob' } } });
  const bob2 = client('bob2', { presence: { user_id: 'bob', user_info: { name: 'Bob' } } });
  await Promise.all([ada.connected(), bob1.connected(), bob2.connected()]);

  const events = { ada: [], bob1: [] };
  const watch = (c, channel) => {
    channel.bind('pusher:member_added', (m) => events[c.name].push({ added: m.id, info: m.info }));
    channel.bind('pusher:member_removed', (m) => events[c.name].push({ removed: m.id, info: m.info }));
    channel.bind('control', (d) => events[c.name].push({ control: d.step }));
  };
  const presenceData = (c) =>
    c.received(channelName, 'pusher_internal:subscription_succeeded')[0]?.data?.presence ?? null;
  const control = async (step) => {
    await json(api.trigger(channelName, 'control', { step }));
    await waitFor(`control ${step}`, () =>
      events.ada.some((e) => e.control === step) &&
      (step > 2 || events.bob1.some((e) => e.control === step)),
    );
  };

  const adaChannel = await ada.subscribe(channelName);
  watch(ada, adaChannel);
  report.ada_presence = presenceData(ada);
  report.ada_me = adaChannel.members.me;

  const bob1Channel = await bob1.subscribe(channelName);
  watch(bob1, bob1Channel);
  report.bob1_presence = presenceData(bob1);
  await waitFor('ada to see bob join', () => events.ada.some((e) => e.added));
  report.ada_count_after_bob1 = adaChannel.members.count;
  await control(1);

  // Bob's second connection: no member_added for anyone, the count stays at 2.
  const bob2Channel = await bob2.subscribe(channelName);
  report.bob2_presence = presenceData(bob2);
  report.bob2_count = bob2Channel.members.count;
  await control(2);
  report.ada_count_after_bob2 = adaChannel.members.count;

  // Bob's first connection leaves: he is still there through the second one.
  bob1.pusher.disconnect();
  await sleep(400);
  await control(3);
  report.ada_count_after_bob1_left = adaChannel.members.count;

  // The last connection leaves: now member_removed.
  bob2.pusher.disconnect();
  await waitFor('ada to see bob leave', () => events.ada.some((e) => e.removed));
  await control(4);
  report.ada_count_after_bob2_left = adaChannel.members.count;
  report.ada_events = events.ada;
  report.bob1_events = events.bob1;
  // What arrived on the wire, before pusher-js's own bookkeeping (it ignores a removal of
  // someone it already removed, and counts an added member only once).
  report.ada_wire = ada.received(channelName).map((m) => m.event);
  report.bob1_wire = bob1.received(channelName).map((m) => m.event);
  report.users_after = (await json(api.get({ path: `/channels/${channelName}/users` }))).body;
});
