/**
 * Start-up checks of the security settings (server/config.ts), topic names that URL
 * normalisation would move, and the stream's access re-check on errors that are not
 * refusals. No broker needed.
 */
import test from 'ava';
import { ConfigError, configWith, gatewayOptions, startupWarnings } from '../../server/config.ts';
import { SeamError } from '../../server/core/errors.ts';
import type { StreamDeps } from '../../server/core/stream.ts';
import { PulsarError } from '../../server/pulsar/errors.ts';
import { parseTopicName } from '../../server/pulsar/topic-name.ts';
import { checkAccess } from '../../server/security/access.ts';

const forward = { callerAuth: 'forward', plaintext: 'true', allowInsecureCredentials: 'true' };

test('forward mode without the token key does not start unless --trust-unverified-tokens', (t) => {
  const error = t.throws(() => gatewayOptions(configWith(forward)), { instanceOf: ConfigError });
  t.regex(error.message, /--token-secret-key or --token-public-key.*--trust-unverified-tokens/);
  t.notThrows(() => gatewayOptions(configWith({ ...forward, trustUnverifiedTokens: 'true' })));
  t.notThrows(() =>
    gatewayOptions(configWith({ ...forward, tokenSecretKey: 'data:;base64,c2VjcmV0' })),
  );
});

test("callers' tokens to a remote admin API over http:// are refused; Seam's own are warned about", (t) => {
  const tls = {
    tlsCert: 'c.pem',
    tlsKey: 'k.pem',
    callerAuth: 'forward',
    trustUnverifiedTokens: 'true',
  };
  const remote = { ...tls, pulsarAdminUrl: 'http://broker.example:8080' };
  const error = t.throws(() => gatewayOptions(configWith(remote)), { instanceOf: ConfigError });
  t.regex(error.message, /clear text.*https:\/\//);
  // Loopback (a sidecar broker) and https:// pass the check (the files are read after it).
  for (const url of ['http://127.0.0.1:8080', 'https://broker.example:8443']) {
    const e = t.throws(() => gatewayOptions(configWith({ ...tls, pulsarAdminUrl: url })));
    t.notRegex(e?.message ?? '', /clear text/, url);
  }
  const warned = startupWarnings(
    configWith({
      pulsarToken: 'tok',
      pulsarUrl: 'pulsar+ssl://127.0.0.1:6651',
      pulsarAdminUrl: 'http://127.0.0.1:8080',
    }),
  );
  t.true(
    warned.some((w) => /pulsar\+ssl.*Seam's token.*clear text/.test(w)),
    warned.join('\n'),
  );
  t.deepEqual(startupWarnings(configWith({ pulsarAdminUrl: 'http://127.0.0.1:8080' })), []);
});

test('--tls-client-ca with --caller-auth none is warned about at start', (t) => {
  const warnings = startupWarnings(configWith({ tlsClientCa: 'ca.pem', callerAuth: 'none' }));
  t.true(
    warnings.some((w) => /certificate's name is not used/.test(w)),
    warnings.join('\n'),
  );
});

test('topic names with . or .. parts are refused', (t) => {
  for (const topic of [
    'persistent://public/default/..',
    'persistent://public/../x',
    'persistent://../default/x',
    'public/./x',
    '..',
  ]) {
    t.throws(() => parseTopicName(topic), { message: /may not be/ }, topic);
  }
  t.is(parseTopicName('persistent://public/default/a..b').local, 'a..b');
});

/** Stream deps whose access check meets `error` at the admin call. */
function failingDeps(error: Error): StreamDeps {
  return {
    client: { partitions: async () => 0 },
    admin: {
      lastMessageId: async () => {
        throw error;
      },
    },
  } as unknown as StreamDeps;
}

test('the access re-check ends a stream on a refusal only; other errors leave it to reconnect', async (t) => {
  const denied = await t.throwsAsync(
    checkAccess(failingDeps(new PulsarError('AuthorizationError', '403 not authorized')), 't'),
    { instanceOf: SeamError },
  );
  t.is(denied?.code, 'PERMISSION_DENIED');
  // A broker restarting (or the admin API unreachable) is not a refusal: fail open, the
  // stream's own reconnects and the next check decide.
  await t.notThrowsAsync(checkAccess(failingDeps(new PulsarError('ServiceNotReady', '503')), 't'));
  await t.notThrowsAsync(
    checkAccess(failingDeps(new PulsarError('ConnectionClosed', 'ECONNREFUSED')), 't'),
  );
});
