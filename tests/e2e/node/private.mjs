// Private channels: a correctly signed subscription receives events; a subscription signed
// with the wrong secret (or another app's key) is refused with pusher:error 4009 plus a
// pusher:subscription_error on the channel, and nothing published there reaches it.
import { RUN, client, json, scenario, sdk, waitFor } from './lib.mjs';

scenario(async (report) => {
  const channelName = `private-deals-${RUN}`;
  const controlName = `control-${RUN}`;
  const good = client('good');
  const forged = client('forged', { signer: sdk({ secret: 'not-the-secret' }) });
  const foreign = client('foreign', {
    signer: sdk({ key: process.env.LEADCAST_OTHER_KEY || 'other-key', secret: process.env.LEADCAST_OTHER_SECRET || 'other-secret' }),
  });
  await Promise.all([good.connected(), forged.connected(), foreign.connected()]);

  const goodChannel = await good.subscribe(channelName);
  const got = { good: [], forged: [], foreign: [] };
  goodChannel.bind('deal', (data) => got.good.push(data));

  const subscriptionErrors = { forged: [], foreign: [] };
  for (const [name, c] of [['forged', forged], ['foreign', foreign]]) {
    const channel = c.pusher.subscribe(channelName);
    channel.bind('pusher:subscription_error', (data) => subscriptionErrors[name].push(data));
    channel.bind('deal', (data) => got[name].push(data));
    await c.subscribe(controlName);
  }
  await waitFor('subscription errors on both refused clients', () =>
    subscriptionErrors.forged.length > 0 && subscriptionErrors.foreign.length > 0,
  );
  report.forged_subscription_error = subscriptionErrors.forged;
  report.foreign_subscription_error = subscriptionErrors.foreign;

  const api = sdk();
  await json(api.trigger(channelName, 'deal', { id: 7, secret: true }));
  await json(api.trigger(controlName, 'control', { after: 'deal' }));
  await waitFor('the deal on the good client and the control on the refused ones', () =>
    got.good.length > 0 &&
    forged.received(controlName, 'control').length > 0 &&
    foreign.received(controlName, 'control').length > 0,
  );
  report.good_received = got.good;
  report.good_errors = good.errors;
  report.forged_received = got.forged;
  report.foreign_received = got.foreign;
  report.forged_wire = forged.received(channelName).map((m) => m.event);
  report.foreign_wire = foreign.received(channelName).map((m) => m.event);
  report.forged_errors = forged.errors;
  report.foreign_errors = foreign.errors;
  report.forged_subscribed = forged.pusher.channel(channelName).subscribed;
  report.forged_state = forged.state;
  report.foreign_state = foreign.state;
});
