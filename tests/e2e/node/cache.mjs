// Cache channels: a new subscriber gets the last event published through the HTTP API
// right after subscription_succeeded; an empty cache channel gives pusher:cache_miss.
import { RUN, client, json, scenario, sdk, waitFor } from './lib.mjs';

scenario(async (report) => {
  const api = sdk();
  const warm = `cache-prices-${RUN}`;
  const warmPrivate = `private-cache-prices-${RUN}`;
  const cold = `cache-empty-${RUN}`;
  for (const channelName of [warm, warmPrivate]) {
    await json(api.trigger(channelName, 'price', { v: 1 }));
    await json(api.trigger(channelName, 'price', { v: 2, note: 'last one wins' }));
  }

  const a = client('a');
  await a.connected();
  const events = {};
  for (const channelName of [warm, warmPrivate, cold]) {
    events[channelName] = [];
    const channel = a.pusher.subscribe(channelName);
    channel.bind('price', (data) => events[channelName].push({ price: data }));
    channel.bind('pusher:cache_miss', (data) => events[channelName].push({ cache_miss: data ?? null }));
    channel.bind('pusher:subscription_error', (data) => events[channelName].push({ error: data }));
  }
  await waitFor('the cached events and the cache miss', () =>
    events[warm].length > 0 && events[warmPrivate].length > 0 && events[cold].length > 0,
  );
  await a.roundTrip();
  report.events = { warm: events[warm], private: events[warmPrivate], cold: events[cold] };
  report.wire = {
    warm: a.received(warm).map((m) => m.event),
    private: a.received(warmPrivate).map((m) => m.event),
    cold: a.received(cold).map((m) => m.event),
  };
  report.errors = a.errors;
});
