// A signed-in connection joins a presence channel without channel_data (pusher-js signs
// just "<socket_id>:<channel>" and takes its member id from pusher.signin()).
import { RUN, client, scenario, waitFor } from './lib.mjs';

scenario(async (report) => {
  const channelName = `presence-desk-${RUN}`;
  const userId = `signed-${RUN}`;
  const observer = client('observer', { presence: { user_id: 'observer', user_info: { role: 'obs' } } });
  const signed = client('signed', { user: { id: userId, user_info: { name: 'Signed' } }, signin: true });
  await observer.connected();
  const observerChannel = await observer.subscribe(channelName);
  const added = [];
  observerChannel.bind('pusher:member_added', (m) => added.push({ id: m.id, info: m.info }));

  await signed.signedIn();
  const channel = await signed.subscribe(channelName);
  await waitFor('the observer to see the signed-in user join', () => added.length > 0);
  report.presence = signed.received(channelName, 'pusher_internal:subscription_succeeded')[0]?.data?.presence ?? null;
  report.me = channel.members.me;
  report.count = channel.members.count;
  report.observer_added = added;
  report.errors = [...observer.errors, ...signed.errors];
});
