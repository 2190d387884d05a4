#!/usr/bin/env node
/**
 * `seam` — the command line.
 *
 *   seam serve [--config file.json] [--port 50051] [--pulsar-url pulsar://...] ...
 *   seam read <topic> [--address host:port] [--start ...] [--end ...] [--output file.arrow]
 *
 * Every setting (server/config.ts) has a flag and an environment variable.
 *
 * Nothing that loads `@grpc/grpc-js` is imported statically: `serve` starts OpenTelemetry
 * first, so its gRPC instrumentation can wrap the module, and stops it last.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { getHeapStatistics } from 'node:v8';
import {
  type Config,
  flagName,
  gatewayOptions,
  loadConfig,
  settingKeys,
  startupWarnings,
  streamOptions,
  switchSettings,
} from './config.ts';
import { serveHelp } from './config-reference.ts';
import { applyHeapFlags } from './heap-limit.ts';
import { createLogger } from './telemetry/log.ts';
import { observeMemory, observePulsarReaders } from './telemetry/pulsar-metrics.ts';
import { startTelemetry } from './telemetry/sdk.ts';

const { version } = JSON.parse(
  readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
) as { version: string };

async function usage(): Promise<string> {
  const { readUsage } = await import('@pulsar-seam/client/read-command');
  return `${serveHelp()}\n${readUsage}`;
}

async function serve(args: string[]): Promise<void> {
  const options: Record<string, { type: 'string' | 'boolean' }> = {
    config: { type: 'string' },
    help: { type: 'boolean' },
  };
  for (const key of settingKeys) {
    options[flagName(key)] = { type: switchSettings.includes(key) ? 'boolean' : 'string' };
  }
  const { values } = parseArgs({ args, options, strict: true }) as {
    values: Record<string, string | boolean | undefined>;
  };
  if (values.help) {
    process.stdout.write(await usage());
    return;
  }
  // Before anything is read or started: this may replace the process with one with its heap
  // flags, which reads its configuration itself (a config on a pipe can be read only once).
  const heap = applyHeapFlags();
  const flags: Partial<Record<keyof Config, string>> = {};
  for (const key of settingKeys) {
    const value = values[flagName(key)];
    if (value !== undefined) flags[key] = String(value);
  }
  const config = loadConfig({ file: values.config as string | undefined, flags });
  // Checked before anything starts: a gateway that cannot serve safely does not start.
  const serverOptions = gatewayOptions(config);
  const logger = createLogger(config.logLevel);
  for (const warning of startupWarnings(config)) logger.warn({ event: 'config.warning' }, warning);
  if (heap.missing.length > 0) {
    logger.warn(
      { event: 'heap.defaults', flags: heap.missing },
      `seam serve could not restart itself with its heap flags (no process.execve, or node's binary is not executable): the heap keeps V8's settings; start node with ${heap.missing.join(' ')} (docs/operations.md, Memory)`,
    );
  }
  const telemetry = await startTelemetry({
    serviceVersion: version,
    metricsHost: config.metricsHost,
    metricsPort: config.metricsPort,
  });
  observePulsarReaders();
  const streams = streamOptions(config);
  if (streams.memory) observeMemory(streams.memory);
  const [{ Gateway }, { PulsarAdmin }, { tokenAuth, tokenSource }, { PulsarClient }] =
    await Promise.all([
      import('./grpc/server.ts'),
      import('./pulsar/admin.ts'),
      import('./pulsar/auth.ts'),
      import('./pulsar/client.ts'),
    ]);

  const pulsarToken = config.pulsarToken ? tokenSource(config.pulsarToken) : undefined;
  const pulsarCa = config.pulsarTlsCa ? readFileSync(config.pulsarTlsCa) : undefined;
  const client = new PulsarClient({
    serviceUrl: config.pulsarUrl,
    ...(pulsarToken ? { auth: tokenAuth(pulsarToken) } : {}),
    ...(pulsarCa ? { tls: { ca: pulsarCa } } : {}),
    maxCallerConnections: config.maxCallerConnections,
    operationTimeoutMs: config.pulsarOperationTimeoutMs,
  });
  const admin = new PulsarAdmin({
    webServiceUrl: config.pulsarAdminUrl,
    ca: pulsarCa,
    ...(pulsarToken ? { authorization: () => `Bearer ${pulsarToken()}` } : {}),
  });
  const gateway = await Gateway.start({ client, admin, ...streams }, { ...serverOptions, logger });
  logger.info(
    {
      event: 'serving',
      version,
      metrics: `http://${config.metricsHost}:${telemetry.metricsPort}/metrics`,
      transport: config.tlsClientCa ? 'mtls' : config.tlsCert ? 'tls' : 'plaintext',
      callerAuth: config.callerAuth,
      // What bounds RSS: the budget's live bytes, and V8's heap limit and young generation
      // (server/heap-limit.ts; docs/operations.md, Memory).
      memoryBudgetBytes: config.memoryBudgetBytes,
      heapLimitBytes: getHeapStatistics().heap_size_limit,
      heapFlags: heap.added.length > 0 ? heap.added.join(' ') : 'from node options',
    },
    `serving ${gateway.services.join(' and ')} on ${config.host}:${gateway.port}, reading ${config.pulsarUrl}`,
  );
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info(
      { event: 'stopping', signal, openStreams: gateway.activeStreams },
      'shutting down: open streams end with OK and a resume token',
    );
    await gateway.shutdown();
    await client.close();
    logger.info({ event: 'stopped' }, 'stopped');
    await telemetry.shutdown();
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

const [command, ...rest] = process.argv.slice(2);
try {
  if (command === 'serve') await serve(rest);
  else if (command === 'read') {
    const { readCommand } = await import('@pulsar-seam/client/read-command');
    await readCommand(rest);
  } else {
    const text = await usage();
    process.stderr.write(command ? `seam: unknown command ${command}\n\n${text}` : text);
    process.exitCode = 2;
  }
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`seam: ${message}\n`);
  // At once: a gateway that could not start must not linger (its metrics endpoint or
  // SDK would keep the process alive, and a supervisor would see it running).
  process.exit(1);
}
