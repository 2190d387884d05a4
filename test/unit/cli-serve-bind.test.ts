/**
 * `seam serve` on a port it cannot bind exits at once with a status other than 0 and a
 * message naming the port: a supervisor must not see a live process that serves nothing.
 * No broker is needed: the gateway binds before it talks to Pulsar.
 */
import { execFile } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import test from 'ava';

const cli = fileURLToPath(new URL('../../server/cli.ts', import.meta.url));

/** A port held by this test's own listener. */
async function takenPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, server };
}

/** Runs `seam serve` with `args`; its exit code and stderr, or `running` after 20 s. */
function serve(args: string[]): Promise<{ code: number | string | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [cli, 'serve', '--plaintext', '--pulsar-url', 'pulsar://127.0.0.1:1', ...args],
      { env: { PATH: process.env.PATH ?? '' }, timeout: 20_000 },
      (error, _stdout, stderr) => {
        const code = error === null ? 0 : child.killed ? 'running' : (child.exitCode ?? null);
        resolve({ code, stderr });
      },
    );
  });
}

for (const [what, flag] of [
  ['gRPC', '--port'],
  ['metrics', '--metrics-port'],
] as const) {
  test(`a ${what} port already taken: exit 1 at once, naming the port`, async (t) => {
    const { port, server } = await takenPort();
    try {
      const other = flag === '--port' ? ['--metrics-port', '0'] : ['--port', '0'];
      const result = await serve([flag, String(port), ...other]);
      t.is(result.code, 1, result.stderr);
      t.regex(result.stderr, new RegExp(`127\\.0\\.0\\.1:${port}`));
      t.regex(result.stderr, /EADDRINUSE|in use/);
    } finally {
      server.close();
    }
  });
}
