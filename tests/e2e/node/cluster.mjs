// Two servers sharing one Redis: pusher-js clients on each, the Node SDK publishing to the
// second. Env LEADCAST_PORT_B: the second server's port (LEADCAST_PORT is the first's).
import { RUN, client, json, scenario, sdk, waitFor } from './lib.mjs';

scenario(async (report) => {
  const portB = Number(process.env.LEADCAST_PORT_B);
  const onB = (extra) => ({ ...extra, pusherOptions: { wsPort: portB } });
  const publicName = `cluster-${RUN}`;
  const presenceName = `presence-cluster-${RUN}`;

  const ann = client('ann', { presence: { user_id: 'ann', user_info: { node: 'a' } } });
  const bob = client('bob', onB({ presence: { user_id: 'bob', user_info: { node: 'b' } } }));
  const annAgain = client('annAgain', onB({ presence: { user_id: 'ann', user_info: { node: 'a' } } }));
  await Promise.all([ann.connected(), bob.connected(), annAgain.connected()]);
  report.socket_ids = [ann.socketId, bob.socketId, annAgain.socketId];

  const got = [];
  const channel = await ann.subscribe(publicName);
  channel.bind('lead.distributed', (data) => got.push(data));
  const viaB = sdk({ port: String(portB) });
  await json(viaB.trigger(publicName, 'lead.distributed', { lead: { id: 7 } }));
  await waitFor('the event published on b', () => got.length >= 1);

  const members = [];
  const annPresence = await ann.subscribe(presenceName);
  annPresence.bind('pusher:member_added', (m) => members.push({ added: m.id, info: m.info }));
  annPresence.bind('pusher:member_removed', (m) => members.push({ removed: m.id }));
  const bobPresence = await bob.subscribe(presenceName);
  await waitFor('ann to see bob join', () => members.length >= 1);
  report.bob_members = Object.keys(bobPresence.members.members).sort();
  report.bob_count = bobPresence.members.count;

  await annAgain.subscribe(presenceName);
  // A marker through b proves everything before it reached ann.
  await json(viaB.trigger(publicName, 'lead.distributed', { marker: true }));
  await waitFor('the marker', () => got.length >= 2);
  report.ann_count = annPresence.members.count;
  report.received = got;
  report.member_events = members;
});
