// laravel-echo presence: join().here().joining().leaving() across two Echo instances.
import { RUN, scenario, track, waitFor } from './lib.mjs';
import { echo } from './echo_lib.mjs';

scenario(async (report) => {
  const room = `lobby-${RUN}`;
  const ada = { id: 1, name: 'Ada' };
  const bob = { id: 2, name: 'Bob' };
  const e1 = echo({ user_id: ada.id, user_info: ada });
  const e2 = echo({ user_id: bob.id, user_info: bob });
  const c1 = track(e1.connector.pusher, 'e1');
  const c2 = track(e2.connector.pusher, 'e2');
  await Promise.all([c1.connected(), c2.connected()]);

  const seen = { e1_here: [], e1_joining: [], e1_leaving: [], e2_here: [] };
  e1.join(room)
    .here((users) => seen.e1_here.push(users))
    .joining((user) => seen.e1_joining.push(user))
    .leaving((user) => seen.e1_leaving.push(user));
  await waitFor('e1 here()', () => seen.e1_here.length > 0);

  e2.join(room).here((users) => seen.e2_here.push(users));
  await waitFor('e2 here() and e1 joining()', () => seen.e2_here.length > 0 && seen.e1_joining.length > 0);

  e2.leave(room);
  await waitFor('e1 leaving()', () => seen.e1_leaving.length > 0);
  report.seen = seen;
  report.errors = [...c1.errors, ...c2.errors];
});
