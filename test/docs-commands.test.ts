/**
 * Every command line the docs mark as tested (```sh tested blocks) runs as written against a
 * gateway and the real standalone, with the system's own `node` first on PATH, not the
 * project's Node 24: what a reader on a fresh machine types. The gateway is named by
 * SEAM_ADDRESS, as the docs say `seam read` takes it; the topic they read is `orders`.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import test from 'ava';
import { root, testedCommands } from './support/docs.ts';
import { useGateway } from './support/gateway.ts';
import { produce } from './support/pulsar.ts';

const gw = useGateway(test);
const orders = 'persistent://public/default/orders';
const produced = 20;

/** PATH without any node_modules/.bin: `node` is whatever the system has. */
const systemPath = (process.env.PATH ?? '')
  .split(delimiter)
  .filter((dir) => !dir.includes('node_modules'))
  .join(delimiter);

// In the repository's root, as the docs say: npx finds `seam` there. Files the commands
// write (`--output`) are removed after each.
const cwd = root;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command line with bash. `untilLines`: a command that does not end by itself (it
 * follows the tail) is stopped once it printed that many lines.
 */
function runLine(command: string, untilLines?: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', command], {
      cwd,
      env: { ...process.env, PATH: systemPath, SEAM_ADDRESS: `127.0.0.1:${gw.gateway.port}` },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    const stop = () => {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGTERM');
    };
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`${command}: still running after 90 s\n${stderr}`));
    }, 90_000);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk;
      if (untilLines !== undefined && stdout.split('\n').length > untilLines) stop();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test.serial('PATH without node_modules finds the system node', (t) => {
  const version = execFileSync('bash', ['-c', 'node --version'], {
    env: { ...process.env, PATH: systemPath },
  })
    .toString()
    .trim();
  t.log(`system node: ${version} (the project runs Node ${process.versions.node})`);
  t.regex(version, /^v\d+\./);
});

test.serial('every documented command line runs as written', async (t) => {
  await produce(orders, { count: produced, keys: 3 });
  const commands = testedCommands();
  t.true(commands.length >= 3);
  for (const { page, command } of commands) {
    const where = `${page}: ${command}`;
    const read = /^npx seam read /.test(command);
    const follows = read && !/ --end /.test(command);
    const result = await runLine(command, follows ? produced : undefined);
    if (!follows) t.is(result.code, 0, `${where}\n${result.stderr}`);
    if (/^npx seam serve --help$/.test(command)) {
      t.regex(result.stdout, /^usage: seam serve/, where);
      t.regex(result.stdout, /--pulsar-url <value> {2}\(SEAM_PULSAR_URL/, where);
    } else if (read && / --output /.test(command)) {
      const file = join(cwd, / --output (\S+)/.exec(command)?.[1] ?? '');
      try {
        t.is(readFileSync(file).subarray(0, 6).toString(), 'ARROW1', where);
      } finally {
        rmSync(file, { force: true });
      }
    } else if (read) {
      // Piped, `seam read` prints one JSON object a row.
      const rows = result.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      t.true(rows.length >= produced, `${where}: ${rows.length} rows`);
      const columns = / --columns (\S+)/.exec(command)?.[1]?.split(',');
      if (columns) t.deepEqual(Object.keys(rows[0] ?? {}).sort(), columns.sort(), where);
    } else t.fail(`${where}: no check for this command`);
  }
});
