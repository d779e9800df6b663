// SDK terminateUserConnections closes every connection of that user (close 4009: pusher-js
// does not reconnect) and leaves other users alone.
import { RUN, client, json, scenario, sleep, sdk, waitFor } from './lib.mjs';

scenario(async (report) => {
  const target = `target-${RUN}`;
  const t1 = client('t1', { user: { id: target }, signin: true });
  const t2 = client('t2', { user: { id: target }, signin: true });
  const other = client('other', { user: { id: `other-${RUN}` }, signin: true });
  await Promise.all([t1.signedIn(), t2.signedIn(), other.signedIn()]);

  report.response = (await json(sdk().terminateUserConnections(target))).body;
  await waitFor('both target connections to close', () =>
    t1.state === 'disconnected' && t2.state === 'disconnected',
  );
  // pusher-js retries 41xx after 1 s and 42xx at once: give it time to show a reconnect.
  await sleep(1500);
  await other.roundTrip();
  report.t1_states = t1.states;
  report.t2_states = t2.states;
  report.t1_errors = t1.errors;
  report.t2_errors = t2.errors;
  report.other_state = other.state;
  report.other_states = other.states;
});
