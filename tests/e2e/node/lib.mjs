// Shared helpers for the conformance scenarios: real pusher-js clients, the official
// Node server SDK, bounded waits and the one-line JSON result protocol.
//
// Every scenario is run as `node <scenario>.mjs [args]` with the server and the app in
// the environment:
//
//   LEADCAST_HOST, LEADCAST_PORT                      where `leadcast realtime` listens
//   LEADCAST_APP_ID, LEADCAST_APP_KEY, LEADCAST_APP_SECRET   the app under test
//
// and prints exactly one JSON line on stdout: {"ok": true, ...} on success, or
// {"ok": false, "error": "...", ...} with a non-zero exit status when a step fails or a
// bounded wait times out. Everything else (library logs) goes to stderr.

import { randomBytes } from 'node:crypto';

// The Node build of pusher-js *is* the encryption-capable build (its default export is
// `PusherWithEncryption`, with tweetnacl bundled). `pusher-js/with-encryption` resolves
// to the browser bundle, which needs `window`/`self` and cannot load under Node.
import PusherJs from 'pusher-js';
import PusherSdk from 'pusher';

// Keep stdout for the single result line.
console.log = console.error;
console.info = console.error;
console.debug = console.error;

function required(name) {
  const value = process.env[name];
  if (!value) {
    process.stdout.write(`${JSON.stringify({ ok: false, error: `${name} is not set` })}\n`);
    process.exit(2);
  }
  return value;
}

export const cfg = {
  host: required('LEADCAST_HOST'),
  port: Number(required('LEADCAST_PORT')),
  appId: required('LEADCAST_APP_ID'),
  key: required('LEADCAST_APP_KEY'),
  secret: required('LEADCAST_APP_SECRET'),
};

/** A short random tag so that scenarios sharing one server never share channels. */
export const RUN = randomBytes(4).toString('hex');

export const WAIT_MS = Number(process.env.LEADCAST_WAIT_MS || 10000);

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Parse `--name value` pairs from argv into an object. */
export function args(defaults = {}) {
  const out = { ...defaults };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 1) {
    if (argv[i].startsWith('--')) {
      const name = argv[i].slice(2);
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) {
        out[name] = true;
      } else {
        out[name] = next;
        i += 1;
      }
    }
  }
  return out;
}

/** The official Node server SDK, pointed at the server under test over plain HTTP. */
export function sdk(overrides = {}) {
  return new PusherSdk({
    appId: cfg.appId,
    key: cfg.key,
    secret: cfg.secret,
    host: cfg.host,
    port: String(cfg.port),
    useTLS: false,
    timeout: WAIT_MS,
    ...overrides,
  });
}

/** Read a successful SDK response as JSON. */
export async function json(responsePromise) {
  const response = await responsePromise;
  return { status: response.status, body: await response.json() };
}

/** Run an SDK call that is expected to fail; return its HTTP status and body. */
export async function failure(responsePromise) {
  try {
    const response = await responsePromise;
    return { status: response.status, body: await response.text(), unexpected: 'succeeded' };
  } catch (error) {
    let body = error.body;
    try {
      body = JSON.parse(error.body);
    } catch {
      // keep the raw text
    }
    return { status: error.status ?? null, body };
  }
}

/** Poll `predicate` until it returns a truthy value, for at most `ms` milliseconds. */
export async function waitFor(label, predicate, ms = WAIT_MS) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = predicate();
    if (value) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${ms} ms waiting for ${label}`);
    }
    await sleep(5);
  }
}

const clients = [];

function describeError(error) {
  if (error && typeof error === 'object') {
    const data = error.data ?? error.error?.data ?? null;
    return {
      type: error.type ?? null,
      code: data && typeof data === 'object' ? (data.code ?? null) : null,
      message:
        data && typeof data === 'object'
          ? (data.message ?? null)
          : String(error.error?.message ?? error.error ?? ''),
    };
  }
  return { type: null, code: null, message: String(error) };
}

/**
 * Wrap a pusher-js instance: record every protocol message it receives, its connection
 * errors and its state changes, and add small helpers for the waits scenarios need.
 */
export function track(pusher, name) {
  const client = {
    name,
    pusher,
    log: [],
    errors: [],
    states: [pusher.connection.state],
    get socketId() {
      return pusher.connection.socket_id;
    },
    get state() {
      return pusher.connection.state;
    },
    async connected() {
      await waitFor(`${name} to connect`, () => pusher.connection.state === 'connected');
      return pusher.connection.socket_id;
    },
    /** Subscribe and wait for pusher:subscription_succeeded; returns the channel. */
    async subscribe(channelName) {
      const channel = pusher.subscribe(channelName);
      let failed = null;
      channel.bind('pusher:subscription_error', (data) => {
        failed = data;
      });
      await waitFor(
        `${name} to subscribe to ${channelName}`,
        () => {
          if (failed) {
            throw new Error(
              `${name}: subscription to ${channelName} failed: ${JSON.stringify(failed)}`,
            );
          }
          return channel.subscribed;
        },
      );
      return channel;
    },
    /** Messages received on `channelName` (optionally only those named `event`). */
    received(channelName, event) {
      return client.log.filter(
        (m) => m.channel === channelName && (event === undefined || m.event === event),
      );
    },
    /** Send pusher:ping and wait for the pong: everything sent before it was processed. */
    async roundTrip() {
      const before = client.log.filter((m) => m.event === 'pusher:pong').length;
      pusher.send_event('pusher:ping', {});
      await waitFor(
        `${name} to get pusher:pong`,
        () => client.log.filter((m) => m.event === 'pusher:pong').length > before,
      );
    },
    /** Wait until signed in and subscribed to #server-to-user-{id}. */
    async signedIn() {
      await waitFor(`${name} to get pusher:signin_success`, () => {
        const failed = client.errors.find((e) => e.type === 'PusherError');
        if (failed && !client.log.some((m) => m.event === 'pusher:signin_success')) {
          throw new Error(`${name}: sign-in refused: ${JSON.stringify(failed)}`);
        }
        return pusher.user.user_data;
      });
      const channelName = `#server-to-user-${pusher.user.user_data.id}`;
      await waitFor(`${name} to be subscribed to ${channelName}`, () =>
        client.log.some(
          (m) => m.event === 'pusher_internal:subscription_succeeded' && m.channel === channelName,
        ),
      );
      return pusher.user.user_data;
    },
    summary() {
      return {
        state: pusher.connection.state,
        states: client.states,
        errors: client.errors,
        log: client.log.slice(-30),
      };
    },
  };
  pusher.connection.bind('message', (m) => {
    client.log.push({ event: m.event, channel: m.channel, data: m.data, user_id: m.user_id });
  });
  pusher.connection.bind('error', (error) => {
    client.errors.push(describeError(error));
  });
  pusher.connection.bind('state_change', ({ current }) => {
    client.states.push(current);
  });
  clients.push(client);
  return client;
}

/** The connection options every pusher-js client here uses. */
export function clientOptions(extra = {}) {
  return {
    cluster: 'mt1',
    wsHost: cfg.host,
    wsPort: cfg.port,
    forceTLS: false,
    enabledTransports: ['ws'],
    disableStats: true,
    ...extra,
  };
}

/**
 * A pusher-js client. Channel authorization and user authentication are custom handlers
 * signing with the official SDK (`authorizeChannel` / `authenticateUser`).
 *
 * options:
 *   key        app key to connect with (default: the app under test)
 *   signer     SDK instance that signs (default: sdk()); pass sdk({secret: 'wrong'}) to forge
 *   presence   {user_id, user_info} used as channel_data for presence channels
 *   user       user data for pusher.signin() ({id, user_info?, watchlist?})
 *   signin     call pusher.signin() right away
 */
export function client(name, options = {}) {
  const signer = options.signer ?? sdk();
  const pusher = new PusherJs(
    options.key ?? cfg.key,
    clientOptions({
      channelAuthorization: {
        customHandler: ({ channelName, socketId }, callback) => {
          try {
            const presence =
              channelName.startsWith('presence-') && options.presence
                ? options.presence
                : undefined;
            callback(null, signer.authorizeChannel(socketId, channelName, presence));
          } catch (error) {
            callback(error, null);
          }
        },
      },
      userAuthentication: {
        customHandler: ({ socketId }, callback) => {
          try {
            callback(null, signer.authenticateUser(socketId, options.user));
          } catch (error) {
            callback(error, null);
          }
        },
      },
      ...(options.pusherOptions ?? {}),
    }),
  );
  const tracked = track(pusher, name);
  if (options.signin) {
    pusher.signin();
  }
  return tracked;
}

/** Everything a failed run should show about the clients involved. */
function diagnostics() {
  return Object.fromEntries(clients.map((c) => [c.name, c.summary()]));
}

function emit(result, code) {
  // Serialise first: the report holds live arrays that disconnecting would still change.
  const line = JSON.stringify(result);
  for (const c of clients) {
    try {
      c.pusher.disconnect();
    } catch {
      // already gone
    }
  }
  process.stdout.write(`${line}\n`, () => process.exit(code));
}

/**
 * Run a scenario: `main(report)` fills `report` as it goes and returns the final result.
 * On an exception or the overall deadline, print what was gathered and exit non-zero.
 */
export function scenario(main, { deadlineMs = Number(process.env.LEADCAST_DEADLINE_MS || 25000) } = {}) {
  const report = {};
  const watchdog = setTimeout(() => {
    emit({ ok: false, error: `scenario deadline of ${deadlineMs} ms exceeded`, report, clients: diagnostics() }, 3);
  }, deadlineMs);
  main(report).then(
    (result) => {
      clearTimeout(watchdog);
      emit({ ok: true, ...report, ...(result ?? {}) }, 0);
    },
    (error) => {
      clearTimeout(watchdog);
      emit(
        {
          ok: false,
          error: String(error?.stack ?? error),
          report,
          clients: diagnostics(),
        },
        1,
      );
    },
  );
}

export { PusherJs, PusherSdk };
