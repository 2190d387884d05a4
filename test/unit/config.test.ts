/**
 * The gateway's configuration: defaults, then a file, the environment and flags (later
 * wins), validated once with every problem listed; and the reference generated from the schema
 * (docs/configuration.md, `seam serve --help`) is current and lists every setting.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { configurationPage, configurationPageUrl } from '../../scripts/gen-config-docs.ts';
import {
  type Config,
  ConfigError,
  configSchema,
  configWith,
  envName,
  flagName,
  gatewayOptions,
  loadConfig,
  settingKeys,
  streamOptions,
} from '../../server/config.ts';
import { serveHelp } from '../../server/config-reference.ts';

test('defaults, overridden by file, then environment, then flags', (t) => {
  const defaults = loadConfig({ env: {} });
  t.like(defaults, { port: 50051, metricsPort: 9464, logLevel: 'info', maxConcurrentStreams: 256 });
  const file = join(tmpdir(), `seam-config-${process.pid}.json`);
  writeFileSync(file, JSON.stringify({ port: 1, metricsPort: 2, logLevel: 'warn' }));
  const config = loadConfig({
    file,
    env: { SEAM_METRICS_PORT: '3', SEAM_LOG_LEVEL: 'debug' },
    flags: { logLevel: 'error' },
  });
  t.like(config, { port: 1, metricsPort: 3, logLevel: 'error' });
});

test('bad values stop start-up with every problem, named by flag and variable', (t) => {
  const error = t.throws(
    () =>
      loadConfig({
        env: { SEAM_PORT: '70000', SEAM_LOG_LEVEL: 'loud' },
        flags: { pulsarUrl: 'http://x' },
      }),
    { instanceOf: ConfigError },
  );
  t.regex(error.message, /port \(--port, SEAM_PORT\)/);
  t.regex(error.message, /logLevel \(--log-level, SEAM_LOG_LEVEL\)/);
  t.regex(
    error.message,
    /pulsarUrl \(--pulsar-url, SEAM_PULSAR_URL\): must start with pulsar:\/\//,
  );
});

test('docs/configuration.md is what the schema generates (npm run docs:config)', (t) => {
  const page = readFileSync(configurationPageUrl, 'utf8');
  t.is(
    page,
    configurationPage(),
    'stale: run npm run docs:config and commit docs/configuration.md',
  );
});

test('the configuration page and --help show every setting: flag, variable, default, meaning', (t) => {
  const page = readFileSync(configurationPageUrl, 'utf8');
  const help = serveHelp();
  const defaults: Partial<Config> = loadConfig({ env: {} });
  for (const key of settingKeys) {
    const row = page.split('\n').find((line) => line.startsWith(`| \`--${flagName(key)}\` |`));
    if (!row) {
      t.fail(`docs/configuration.md has no row for --${flagName(key)}`);
      continue;
    }
    const [, env, shown, meaning] = row.split(' | ');
    t.is(env, `\`${envName(key)}\``, `${key}: its variable`);
    const value = defaults[key];
    if (value === undefined) t.is(shown, 'none', `${key} has no default`);
    else if (typeof value === 'number' && value >= 1024 * 1024 && value % (1024 * 1024) === 0)
      t.is(shown, `${value / (1024 * 1024)} MiB`, `${key} default`);
    else t.is(shown?.replaceAll('`', ''), String(value), `${key} default`);
    const description = configSchema.shape[key].description ?? '';
    t.true(description.length > 10, `${key} has a description`);
    t.true(meaning?.startsWith(description), `${key}: its description in the page`);
    t.true(help.includes(`--${flagName(key)}`) && help.includes(envName(key)), `${key} in --help`);
    const words = (text: string) => text.replaceAll('`', '').replace(/\s+/g, ' ');
    t.true(words(help).includes(words(description)), `${key}: its description in --help`);
  }
});

test('environment variables are SEAM_ and the flag name in capitals', (t) => {
  t.is(envName('maxConcurrentStreams'), 'SEAM_MAX_CONCURRENT_STREAMS');
  t.is(envName('pulsarTlsCa'), 'SEAM_PULSAR_TLS_CA');
  t.like(loadConfig({ env: { SEAM_PRINCIPAL_REQUESTS_PER_SECOND: '7', SEAM_PLAINTEXT: 'true' } }), {
    principalRequestsPerSecond: 7,
    plaintext: true,
  });
});

test('the stream settings reach the stream core', (t) => {
  const config = loadConfig({
    env: { SEAM_HISTORY_PARALLELISM: '2' },
    flags: {
      historyBudgetBytes: '1048576',
      receiverQueueSize: '50',
      receiverQueueBytes: '65536',
      memoryBudgetBytes: '33554432',
    },
  });
  const { memory, ...rest } = streamOptions(config);
  t.deepEqual(rest, {
    receiverQueueSize: 50,
    receiverQueueBytes: 65536,
    historyParallelism: 2,
    historyBudgetBytes: 1048576,
  });
  t.is(memory?.budgetBytes, 32 * 1024 * 1024);
});

test('the Pulsar operation timeout is 30 s unless set, as the official clients', (t) => {
  t.is(loadConfig({}).pulsarOperationTimeoutMs, 30_000);
  t.is(
    loadConfig({ env: { SEAM_PULSAR_OPERATION_TIMEOUT_MS: '5000' } }).pulsarOperationTimeoutMs,
    5000,
  );
  t.throws(() => loadConfig({ flags: { pulsarOperationTimeoutMs: '0' } }), {
    message: /pulsar-operation-timeout-ms/,
  });
});

test('--flight-ticket-keys: the key ring that signs tickets, or a start-up error naming the line', (t) => {
  const file = join(tmpdir(), `seam-ticket-keys-${process.pid}`);
  const key = (byte: number, bytes = 32) => Buffer.alloc(bytes, byte).toString('base64');
  writeFileSync(file, `# rotated in 2026-12\n2:${key(2)}\n1:${key(1)}\n`);
  const base = { plaintext: 'true', flightTicketKeys: file } as const;
  const ring = gatewayOptions(configWith(base)).ticketKeys;
  t.is(ring?.signing.kid, 2);
  t.deepEqual([...(ring?.keys.keys() ?? [])], [2, 1]);
  t.is(gatewayOptions(configWith({ plaintext: 'true' })).ticketKeys, undefined);
  writeFileSync(file, `1:${key(1, 8)}\n`);
  t.throws(() => gatewayOptions(configWith(base)), {
    instanceOf: ConfigError,
    message: /--flight-ticket-keys: .*:1: key 1 is 8 bytes; use at least 16/,
  });
  t.throws(() => gatewayOptions(configWith({ ...base, flightTicketKeys: `${file}.absent` })), {
    instanceOf: ConfigError,
    message: /--flight-ticket-keys: cannot read ticket keys/,
  });
});
