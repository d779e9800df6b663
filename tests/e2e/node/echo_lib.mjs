// laravel-echo configured as a Laravel front end would be, against the server under test.
import Echo from 'laravel-echo';
import { PusherJs, cfg, clientOptions, sdk } from './lib.mjs';

/**
 * The `authorizer` option Laravel apps pass to Echo. Channels whose name contains
 * "forbidden" get a signature made with the wrong secret, as if forged.
 */
export function authorizer(signer, presence) {
  const forger = sdk({ secret: 'wrong-secret' });
  return (channel) => ({
    authorize: (socketId, callback) => {
      try {
        const by = channel.name.includes('forbidden') ? forger : signer;
        const data = channel.name.startsWith('presence-') ? presence : undefined;
        callback(null, by.authorizeChannel(socketId, channel.name, data));
      } catch (error) {
        callback(error, null);
      }
    },
  });
}

/** An Echo instance with the pusher broadcaster; `presence` is this user's channel_data. */
export function echo(presence) {
  return new Echo({
    broadcaster: 'pusher',
    key: cfg.key,
    Pusher: PusherJs,
    ...clientOptions(),
    authorizer: authorizer(sdk(), presence),
    withoutInterceptors: true,
  });
}
