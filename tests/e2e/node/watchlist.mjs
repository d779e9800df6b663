// Watchlist: pusher.user.watchlist.bind('online'/'offline'): initial state of watched users
// already online, then online on a user's first connection, offline when the last leaves.
import { RUN, client, json, scenario, sdk, sleep, waitFor } from './lib.mjs';

scenario(async (report) => {
  const watcherId = `watcher-${RUN}`;
  const early = `early-${RUN}`;
  const late = `late-${RUN}`;
  const api = sdk();
  const events = [];
  const barrier = async (step) => {
    await json(api.sendToUser(watcherId, 'control', { step }));
    await waitFor(`control ${step}`, () => events.some((e) => e.control === step));
  };

  const earlyClient = client('early', { user: { id: early }, signin: true });
  await earlyClient.signedIn();

  const watcher = client('watcher', { user: { id: watcherId, watchlist: [early, late] } });
  watcher.pusher.user.watchlist.bind('online', (e) => events.push({ online: e.user_ids }));
  watcher.pusher.user.watchlist.bind('offline', (e) => events.push({ offline: e.user_ids }));
  watcher.pusher.user.bind('control', (d) => events.push({ control: d.step }));
  watcher.pusher.signin();
  await watcher.signedIn();
  await waitFor('the initial watchlist event', () => events.length > 0);
  await barrier(1);
  report.initial = events.slice();

  const late1 = client('late1', { user: { id: late }, signin: true });
  await late1.signedIn();
  await waitFor('late online', () => events.some((e) => e.online?.includes(late)));
  await barrier(2);

  // A second connection of the same user is not a new "online".
  const late2 = client('late2', { user: { id: late }, signin: true });
  await late2.signedIn();
  await barrier(3);

  // Leaving with one connection left is not "offline".
  late1.pusher.disconnect();
  await sleep(400);
  await barrier(4);

  late2.pusher.disconnect();
  await waitFor('late offline', () => events.some((e) => e.offline?.includes(late)));
  await barrier(5);
  report.events = events;
  report.watcher_errors = watcher.errors;
});
