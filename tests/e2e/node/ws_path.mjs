// pusher-js with `wsPath` against `leadcast realtime --path-prefix`: it connects under the
// prefix, and an event triggered by the official Node SDK arrives intact.
// argv: --path <the server's path prefix, default /ws>
import { RUN, args, cfg, client, json, scenario, sdk, waitFor } from './lib.mjs';

scenario(async (report) => {
  const { path } = args({ path: '/ws' });
  const channelName = `prefixed-${RUN}`;
  const a = client('a', { pusherOptions: { wsPath: path } });
  report.socket_id = await a.connected();
  const channel = await a.subscribe(channelName);
  const got = [];
  channel.bind('lead.created', (payload) => got.push(payload));

  report.trigger_response = (await json(sdk().trigger(channelName, 'lead.created', { id: 7 }))).body;
  await waitFor('lead.created', () => got.length >= 1);
  report.received = got;
  const health = await fetch(`http://${cfg.host}:${cfg.port}${path}/health`);
  report.health = { status: health.status, body: await health.json() };
  report.states = a.states;
  report.errors = a.errors;
});
