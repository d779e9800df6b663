// laravel-echo with the pusher broadcaster: a private channel listener gets a Laravel-style
// event with a nested payload, exactly; .error() fires on a channel the server refuses.
// argv: --data <JSON payload to broadcast as `lead.distributed`>
import { echo } from './echo_lib.mjs';
import { RUN, args, json, scenario, sdk, track, waitFor } from './lib.mjs';

scenario(async (report) => {
  const { data } = args({ data: '{"lead": {"id": 1}}' });
  const payload = JSON.parse(data);
  const e = echo();
  const c = track(e.connector.pusher, 'echo');
  await c.connected();
  report.socket_id = e.socketId();

  const got = { dotted: [], namespaced: [], errors: [], forbiddenEvents: [] };
  let subscribed = false;
  e.private('property-manager.7')
    .subscribed(() => {
      subscribed = true;
    })
    .listen('.lead.distributed', (d) => got.dotted.push(d))
    // Laravel's default event name: the class name under the App.Events namespace.
    .listen('LeadDistributed', (d) => got.namespaced.push(d));
  let forbiddenSubscribed = false;
  e.private(`forbidden-${RUN}`)
    .subscribed(() => {
      forbiddenSubscribed = true;
    })
    .listen('.lead.distributed', (d) => got.forbiddenEvents.push(d))
    .error((status) => got.errors.push(status));
  await waitFor('private-property-manager.7 subscribed', () => subscribed);
  await waitFor('.error() on the forbidden channel', () => got.errors.length > 0);

  const api = sdk();
  await json(api.trigger('private-property-manager.7', 'lead.distributed', payload));
  await json(api.trigger('private-property-manager.7', 'App\\Events\\LeadDistributed', payload));
  await json(api.trigger(`private-forbidden-${RUN}`, 'lead.distributed', payload));
  await waitFor('both listeners', () => got.dotted.length > 0 && got.namespaced.length > 0);
  await c.roundTrip();
  report.dotted = got.dotted;
  report.namespaced = got.namespaced;
  report.error_callbacks = got.errors;
  report.forbidden_subscribed = forbiddenSubscribed;
  report.forbidden_events = got.forbiddenEvents;
  report.connection_status = e.connectionStatus();
  report.connection_errors = c.errors;
});
