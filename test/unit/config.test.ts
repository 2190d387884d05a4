/**
 * The gateway's configuration: defaults, then a file, the environment and flags (later
 * wins), validated once with every problem listed; and the README's reference lists every
 * setting with its flag, variable and default.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import {
  type Config,
  ConfigError,
  configSchema,
  envNames,
  flagName,
  loadConfig,
  streamOptions,
} from '../../server/config.ts';

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

test('the README documents every setting: flag, variable and default', (t) => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const defaults = loadConfig({ env: {} }) as Partial<Config>;
  for (const key of Object.keys(configSchema.shape) as (keyof Config)[]) {
    const row = readme.split('\n').find((line) => line.startsWith(`| \`--${flagName(key)}\` |`));
    if (!row) {
      t.fail(`README has no row for --${flagName(key)}`);
      continue;
    }
    t.true(row.includes(`\`${envNames[key]}\``), `${key}: ${envNames[key]} in its row`);
    const value = defaults[key];
    const cell = row.split('|')[3]?.trim() ?? '';
    if (value === undefined) t.is(cell, 'none', `${key} has no default`);
    else if (typeof value === 'number' && value >= 1024 * 1024 && value % (1024 * 1024) === 0)
      t.is(cell, `${value / (1024 * 1024)} MiB`, `${key} default`);
    else t.is(cell.replaceAll('`', ''), String(value), `${key} default`);
  }
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
