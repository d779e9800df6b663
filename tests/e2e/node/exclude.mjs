// SDK trigger with socket_id leaves that connection out.
import { RUN, client, json, scenario, sdk, waitFor } from './lib.mjs';

scenario(async (report) => {
  const channelName = `excl-${RUN}`;
  const a = client('a');
  const b = client('b');
  const socketA = await a.connected();
  await b.connected();
  const channelA = await a.subscribe(channelName);
  const channelB = await b.subscribe(channelName);
  const gotA = [];
  const gotB = [];
  channelA.bind('tick', (data) => gotA.push(data.n));
  channelB.bind('tick', (data) => gotB.push(data.n));

  const api = sdk();
  await json(api.trigger(channelName, 'tick', { n: 1 }, { socket_id: socketA }));
  await json(api.trigger(channelName, 'tick', { n: 2 }));
  await waitFor('the control event on both', () => gotA.includes(2) && gotB.includes(2));
  report.excluded_socket_id = socketA;
  report.a_received = gotA;
  report.b_received = gotB;
});
