#!/usr/bin/env node
/**
 * `seam` — the command line.
 *
 *   seam serve [--config file.json] [--port 50051] [--pulsar-url pulsar://...] ...
 *   seam read <topic> [--address host:port] [--start ...] [--end ...] [--output file.arrow]
 *
 * Every setting (server/config.ts) has a flag and an environment variable.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { readCommand, readUsage } from '@pulsar-seam/client/read-command';
import {
  type Config,
  ConfigError,
  configSchema,
  envNames,
  flagName,
  gatewayOptions,
  loadConfig,
} from './config.ts';
import { Gateway } from './grpc/server.ts';
import { PulsarAdmin } from './pulsar/admin.ts';
import { tokenAuth } from './pulsar/auth.ts';
import { PulsarClient } from './pulsar/client.ts';

const settingKeys = Object.keys(configSchema.shape) as (keyof Config)[];

function usage(): string {
  const lines = settingKeys.map((k) => `  --${flagName(k)}  (${envNames[k]})`);
  return `usage: seam serve [--config file.json] [options]\n\noptions (flag, environment variable):\n${lines.join('\n')}\n\n${readUsage}`;
}

async function serve(args: string[]): Promise<void> {
  const options: Record<string, { type: 'string' | 'boolean' }> = {
    config: { type: 'string' },
    help: { type: 'boolean' },
  };
  for (const key of settingKeys) options[flagName(key)] = { type: 'string' };
  const { values } = parseArgs({ args, options, strict: true }) as {
    values: Record<string, string | boolean | undefined>;
  };
  if (values.help) {
    process.stdout.write(usage());
    return;
  }
  const flags: Partial<Record<keyof Config, string>> = {};
  for (const key of settingKeys) {
    const value = values[flagName(key)];
    if (typeof value === 'string') flags[key] = value;
  }
  const config = loadConfig({ file: values.config as string | undefined, flags });

  const client = new PulsarClient({
    serviceUrl: config.pulsarUrl,
    ...(config.pulsarToken ? { auth: tokenAuth(config.pulsarToken) } : {}),
    ...(config.pulsarTlsCa ? { tls: { ca: readFileSync(config.pulsarTlsCa) } } : {}),
  });
  const admin = new PulsarAdmin({
    webServiceUrl: config.pulsarAdminUrl,
    ...(config.pulsarToken ? { authorization: () => `Bearer ${config.pulsarToken}` } : {}),
  });
  const gateway = await Gateway.start(
    { client, admin, receiverQueueSize: config.receiverQueueSize },
    gatewayOptions(config),
  );
  process.stdout.write(
    `seam: serving seam.v1.SeamService on ${config.host}:${gateway.port}, reading ${config.pulsarUrl}\n`,
  );
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(
      `seam: ${signal}: shutting down (${gateway.activeStreams} open streams end with a resume token)\n`,
    );
    await gateway.shutdown();
    await client.close();
    process.stdout.write('seam: stopped\n');
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

const [command, ...rest] = process.argv.slice(2);
try {
  if (command === 'serve') await serve(rest);
  else if (command === 'read') await readCommand(rest);
  else {
    process.stderr.write(command ? `seam: unknown command ${command}\n\n${usage()}` : usage());
    process.exitCode = 2;
  }
} catch (error) {
  const message =
    error instanceof ConfigError || error instanceof TypeError ? error.message : String(error);
  process.stderr.write(`seam: ${message}\n`);
  process.exitCode = 1;
}
