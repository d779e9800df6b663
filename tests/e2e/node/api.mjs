// The HTTP API through the official Node SDK: channel listings and info, presence users,
// trigger info, batches and signature failures, while real pusher-js clients are connected.
import { RUN, cfg, client, failure, json, scenario, sdk, waitFor } from './lib.mjs';

scenario(async (report) => {
  const pub = `api-feed-${RUN}`;
  const priv = `private-api-${RUN}`;
  const pres = `presence-api-${RUN}`;
  const p = client('p');
  const u1 = client('u1', { presence: { user_id: 'u1', user_info: { n: 1 } } });
  const u2 = client('u2', { presence: { user_id: 'u2', user_info: { n: 2 } } });
  await Promise.all([p.connected(), u1.connected(), u2.connected()]);
  const pubChannel = await p.subscribe(pub);
  await p.subscribe(priv);
  await u1.subscribe(pres);
  await u2.subscribe(pres);
  report.channels = { pub, priv, pres };

  const api = sdk();
  report.all = await json(api.get({ path: '/channels' }));
  report.presence_with_user_count = await json(
    api.get({ path: '/channels', params: { filter_by_prefix: pres, info: 'user_count' } }),
  );
  report.private_by_prefix = await json(api.get({ path: '/channels', params: { filter_by_prefix: priv } }));
  report.presence_info = await json(
    api.get({ path: `/channels/${pres}`, params: { info: 'user_count,subscription_count' } }),
  );
  report.public_info = await json(api.get({ path: `/channels/${pub}`, params: { info: 'subscription_count' } }));
  report.vacant_info = await json(api.get({ path: `/channels/vacant-${RUN}` }));
  report.users = await json(api.get({ path: `/channels/${pres}/users` }));
  report.users_of_public = await failure(api.get({ path: `/channels/${pub}/users` }));

  const got = [];
  pubChannel.bind_global((event, data) => {
    if (!event.startsWith('pusher:')) got.push({ event, data });
  });
  report.trigger_with_info = await json(api.trigger(pub, 'one', { n: 1 }, { info: 'subscription_count' }));
  report.batch = await json(
    api.triggerBatch([
      { channel: pub, name: 'two', data: { n: 2 } },
      { channel: pub, name: 'three', data: 'three' },
    ]),
  );
  await waitFor('the three events', () => got.length >= 3);
  report.received = got;

  report.wrong_secret = await failure(sdk({ secret: 'wrong' }).get({ path: '/channels' }));
  report.unknown_app = await failure(sdk({ appId: `no-such-app-${RUN}` }).get({ path: '/channels' }));
  report.app_id = cfg.appId;
});
