/**
 * The Dockerfile, as far as this machine (no Docker engine) can check it: hadolint passes,
 * and a tree laid out exactly as its COPY lines lay out the image, with production
 * dependencies only, starts with the image's entry point and environment, answers the
 * image's health check, serves a read, and stops cleanly on SIGTERM.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { SeamClient } from '@pulsar-seam/client';
import test from 'ava';
import { ensurePulsar, freshTopic, produce, pulsar } from './support/pulsar.ts';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
// Instructions, with continuation lines joined.
const instructions = dockerfile
  .replace(/\\\n\s*/g, ' ')
  .split('\n')
  .filter((line) => line.trim() && !line.trimStart().startsWith('#'));
const jsonArray = (text: string) => JSON.parse(text.trim()) as string[];

function instruction(name: string): string | undefined {
  return instructions.findLast((line) => line.startsWith(`${name} `))?.slice(name.length + 1);
}

/** COPY sources and destinations of the final stage (after the last FROM), and of the first. */
function copies(stage: 'first' | 'final'): [string, string][] {
  const froms = instructions.flatMap((line, i) => (line.startsWith('FROM ') ? [i] : []));
  const [start, end] =
    stage === 'final' ? [froms.at(-1) ?? 0, instructions.length] : [froms[0] ?? 0, froms[1]];
  return instructions
    .slice(start, end)
    .filter((line) => line.startsWith('COPY ') && !line.includes('--from'))
    .flatMap((line) => {
      const parts = line.split(/\s+/).slice(1);
      const to = parts.pop() as string;
      return parts.map((from): [string, string] => [from, to]);
    });
}

function imageEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const match of (instruction('ENV') ?? '').matchAll(/(\w+)=(\S+)/g))
    env[match[1] as string] = match[2] as string;
  return env;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

test('hadolint passes', async (t) => {
  const { stdout } = await run(join(root, '.venv/bin/hadolint'), [join(root, 'Dockerfile')]);
  t.is(stdout.trim(), '');
});

test('the image layout starts with its entry point and environment, is healthy, serves, stops', async (t) => {
  await ensurePulsar();
  const app = mkdtempSync(join(tmpdir(), 'seam-image-'));
  let server: ChildProcess | undefined;
  try {
    const place = ([from, to]: [string, string]) =>
      cpSync(join(root, from), join(app, to.endsWith('/') ? `${to}${from.split('/').pop()}` : to), {
        recursive: true,
      });
    copies('first').forEach(place);
    await run(
      'npm',
      ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'],
      {
        cwd: app,
      },
    );
    for (const copy of copies('final')) if (copy[0] !== 'package.json') place(copy);

    const [port, metricsPort] = [await freePort(), await freePort()];
    const env = {
      PATH: process.env.PATH ?? '',
      ...imageEnv(),
      // Only what differs here: free ports, and the test standalone instead of `pulsar`.
      SEAM_HOST: '127.0.0.1',
      SEAM_PORT: String(port),
      SEAM_METRICS_PORT: String(metricsPort),
      SEAM_PULSAR_URL: pulsar.serviceUrl,
      SEAM_PULSAR_ADMIN_URL: pulsar.webUrl,
      // No certificates here: serve plaintext, as the image requires be asked for.
      SEAM_PLAINTEXT: 'true',
    };
    const entrypoint = [
      ...jsonArray(instruction('ENTRYPOINT') ?? '[]'),
      ...jsonArray(instruction('CMD') ?? '[]'),
    ];
    t.deepEqual(entrypoint, ['node', 'server/cli.ts', 'serve']);
    const health = jsonArray((instruction('HEALTHCHECK') ?? '').replace(/^.*CMD /, ''));
    const node = process.execPath; // the image's `node` is 24 too
    const healthy = () =>
      run(node, health.slice(1), { cwd: app, env }).then(
        () => true,
        () => false,
      );

    t.false(await healthy(), 'nothing is serving yet');
    server = spawn(node, entrypoint.slice(1), {
      cwd: app,
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<number | null>((resolve) => server?.once('exit', resolve));
    await new Promise<void>((resolve, reject) => {
      server?.stdout?.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('"event":"serving"')) resolve();
      });
      void exited.then((code) => reject(new Error(`the entry point exited with ${code}`)));
    });
    t.true(await healthy());

    const topic = freshTopic('image');
    await produce(topic, { count: 100, compression: 'LZ4' });
    const seam = new SeamClient(`127.0.0.1:${port}`);
    t.is((await seam.readAll({ topic })).numRows, 100);
    seam.close();
    // The image's own `seam read` (the SDK inside it) reads the same rows.
    const { stdout } = await run(
      node,
      [
        ...entrypoint.slice(1, -1),
        'read',
        topic,
        '--end',
        'at_open',
        '--address',
        `127.0.0.1:${port}`,
      ],
      { cwd: app, env },
    );
    t.is(stdout.trim().split('\n').length, 100);

    server.kill('SIGTERM');
    t.is(await exited, 0);
    t.false(await healthy());
  } finally {
    if (server?.exitCode === null) server.kill('SIGKILL');
    rmSync(app, { recursive: true, force: true });
  }
});
