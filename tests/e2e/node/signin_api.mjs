// pusher-js signin() through the lead API against a running `leadcast up`: user
// authentication at /api/broadcasting/user-auth (transport 'ajax', a Bearer token), then an
// event sent to the PM with the official Node SDK (sendToUser: `#server-to-user-{id}` through
// the HTTP API). Clients with an invalid token or none get pusher:signin_error (401) and stay
// connected; nobody but the PM receives the PM's event.
//
// Environment: as lib.mjs (the embedded real-time server and its app), and LEADCAST_API_URL.
// argv: --pm <id> --token <token> --other-token <token>   (another PM)
import { PusherJs, args, clientOptions, json, scenario, sdk, sleep, track, waitFor } from './lib.mjs';

const NAMES = ['pm', 'other', 'bogus', 'anonymous'];

function apiClient(name, headers) {
  return track(
    new PusherJs(
      process.env.LEADCAST_APP_KEY,
      clientOptions({
        userAuthentication: {
          endpoint: `${process.env.LEADCAST_API_URL}/api/broadcasting/user-auth`,
          transport: 'ajax',
          headers,
        },
      }),
    ),
    name,
  );
}

scenario(async (report) => {
  const options = args();
  for (const name of ['pm', 'token', 'other-token']) {
    if (!options[name] || options[name] === true) {
      throw new Error(`--${name} is required`);
    }
  }
  const clients = {
    pm: apiClient('pm', { Authorization: `Bearer ${options.token}` }),
    other: apiClient('other', { Authorization: `Bearer ${options['other-token']}` }),
    bogus: apiClient('bogus', { Authorization: 'Bearer lct_not-a-real-token' }),
    anonymous: apiClient('anonymous', {}),
  };
  const signinErrors = Object.fromEntries(NAMES.map((name) => [name, []]));
  const received = Object.fromEntries(NAMES.map((name) => [name, []]));
  for (const name of NAMES) {
    const user = clients[name].pusher.user;
    user.bind('pusher:signin_error', (error) => signinErrors[name].push(error));
    user.bind('lead.note', (data) => received[name].push(data));
  }
  await Promise.all(NAMES.map((name) => clients[name].connected()));
  for (const name of NAMES) {
    clients[name].pusher.signin();
  }
  report.user_data = { pm: await clients.pm.signedIn(), other: await clients.other.signedIn() };
  await waitFor(
    'pusher:signin_error for the bogus and the anonymous client',
    () => signinErrors.bogus.length > 0 && signinErrors.anonymous.length > 0,
  );

  report.send_response = (
    await json(sdk().sendToUser(String(options.pm), 'lead.note', { lead: 42, note: 'call back' }))
  ).body;
  await waitFor('the PM to receive lead.note', () => received.pm.length > 0);
  // Anything else on its way (a duplicate, a leak) arrives before the pong of a later ping.
  await sleep(200);
  await Promise.all(NAMES.map((name) => clients[name].roundTrip()));

  report.received = received;
  report.signin_errors = signinErrors;
  report.signin_success = Object.fromEntries(
    NAMES.map((name) => [
      name,
      clients[name].log.filter((m) => m.event === 'pusher:signin_success').length,
    ]),
  );
  report.user_channels = Object.fromEntries(
    NAMES.map((name) => [
      name,
      clients[name].log
        .filter((m) => m.channel && m.channel.startsWith('#server-to-user-'))
        .map((m) => ({ channel: m.channel, event: m.event })),
    ]),
  );
  report.states = Object.fromEntries(NAMES.map((name) => [name, clients[name].state]));
  report.connection_errors = Object.fromEntries(NAMES.map((name) => [name, clients[name].errors]));
});
