// pusher.signin() + SDK sendToUser: the event reaches every connection signed in as that
// user and nobody else. A sign-in signed with the wrong secret gets pusher:error 4009 and
// the connection stays open.
import { RUN, client, json, scenario, sdk, waitFor } from './lib.mjs';

scenario(async (report) => {
  const alice = `alice-${RUN}`;
  const bob = `bob-${RUN}`;
  const aliceUser = { id: alice, user_info: { name: 'Alice' } };
  const a1 = client('a1', { user: aliceUser, signin: true });
  const a2 = client('a2', { user: aliceUser, signin: true });
  const b = client('b', { user: { id: bob }, signin: true });
  const forged = client('forged', { user: aliceUser, signin: true, signer: sdk({ secret: 'nope' }) });
  report.user_data = [await a1.signedIn(), await a2.signedIn(), await b.signedIn()];
  await forged.connected();
  await waitFor('forged pusher:error', () => forged.log.some((m) => m.event === 'pusher:error'));

  const got = { a1: [], a2: [], b: [], forged: [] };
  for (const [name, c] of [['a1', a1], ['a2', a2], ['b', b], ['forged', forged]]) {
    c.pusher.user.bind('lead.assigned', (data) => got[name].push(data));
    c.pusher.user.bind('control', () => got[name].push('control'));
  }
  const api = sdk();
  report.send_response = (await json(api.sendToUser(alice, 'lead.assigned', { lead: 42, note: 'call back' }))).body;
  await json(api.sendToUser(bob, 'control', {}));
  await waitFor('both alice connections and the control on bob', () =>
    got.a1.length > 0 && got.a2.length > 0 && got.b.includes('control'),
  );
  await forged.roundTrip();
  report.received = got;
  report.forged_errors = forged.errors;
  report.forged_signin_success = forged.log.some((m) => m.event === 'pusher:signin_success');
  report.forged_state = forged.state;
  report.forged_states = forged.states;
});
