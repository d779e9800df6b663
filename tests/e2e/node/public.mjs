// A public channel receives events triggered by the official Node SDK, data intact.
// argv: --data <JSON payload to trigger as `lead.created`>
import { RUN, args, client, json, scenario, sdk, waitFor } from './lib.mjs';

scenario(async (report) => {
  const { data } = args({ data: '{"id": 1}' });
  const channelName = `leads-${RUN}`;
  const a = client('a');
  await a.connected();
  const channel = await a.subscribe(channelName);
  report.channel = channelName;
  const got = [];
  channel.bind('lead.created', (payload) => got.push({ event: 'lead.created', data: payload }));
  channel.bind('note', (payload) => got.push({ event: 'note', data: payload }));

  const api = sdk();
  report.trigger_response = (await json(api.trigger(channelName, 'lead.created', JSON.parse(data)))).body;
  await json(api.trigger(channelName, 'note', 'plain text, not JSON'));
  await waitFor('both events', () => got.length >= 2);
  report.received = got;
  report.wire = a.received(channelName).map((m) => m.event);
  report.errors = a.errors;
});
