// End-to-end encrypted channel: pusher-js (encryption-capable Node build) decrypts what the
// SDK encrypted with encryptionMasterKeyBase64; the server passes {nonce, ciphertext} along.
import { randomBytes } from 'node:crypto';
import { RUN, client, json, scenario, sdk, waitFor } from './lib.mjs';

scenario(async (report) => {
  const channelName = `private-encrypted-ledger-${RUN}`;
  const api = sdk({ encryptionMasterKeyBase64: randomBytes(32).toString('base64') });
  const a = client('a', { signer: api });
  await a.connected();
  const channel = await a.subscribe(channelName);
  const got = [];
  channel.bind('entry', (data) => got.push(data));
  const payload = { amount: 99.5, memo: 'PLAINTEXT-MARKER', nested: { ok: [1, 2, 3] } };
  report.trigger_response = (await json(api.trigger(channelName, 'entry', payload))).body;
  await waitFor('the decrypted event', () => got.length > 0);
  report.received = got;
  const wire = a.received(channelName, 'entry')[0];
  report.wire_data_keys = wire && typeof wire.data === 'object' ? Object.keys(wire.data).sort() : wire?.data;
  report.wire_has_plaintext = JSON.stringify(wire).includes('PLAINTEXT-MARKER');
  report.errors = a.errors;
});
