/**
 * `seam read`: JSON lines when piped, an aligned table with a history progress bar on a
 * terminal, a bounded read into an Arrow file, clear usage errors.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as arrow from 'apache-arrow';
import test from 'ava';
import { useGateway } from './support/gateway.ts';
import { freshTopic, produce, readOfficial } from './support/pulsar.ts';

const run = promisify(execFile);
const cli = fileURLToPath(new URL('../server/cli.ts', import.meta.url));
const gw = useGateway(test);
const seam = (...args: string[]) =>
  run(process.execPath, [cli, 'read', ...args, '--address', `127.0.0.1:${gw.gateway.port}`], {
    timeout: 60_000,
  });

test('piped, it prints one JSON object a row', async (t) => {
  const topic = freshTopic('cli-read');
  await produce(topic, { count: 30, keys: 3 });
  const { stdout } = await seam(
    topic,
    '--end',
    'at_open',
    '--columns',
    '__key,__messageId,__publishTime',
  );
  const rows = stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, string>);
  const official = await readOfficial(topic);
  t.is(rows.length, 30);
  t.deepEqual(
    rows.map((r) => r.__messageId),
    official.map((m) => m.message_id.serialized_b64),
  );
  t.deepEqual(
    rows.map((r) => r.__key),
    official.map((m) => m.key),
  );
  t.is(rows[0]?.__publishTime, new Date(official[0]?.publish_time ?? 0).toISOString());
});

test('on a terminal, it prints an aligned table and a history progress bar', async (t) => {
  const topic = freshTopic('cli-table');
  await produce(topic, { count: 30, keys: 3 });
  const command = [
    process.execPath,
    cli,
    'read',
    topic,
    '--end',
    'at_open',
    '--columns',
    '__key,__messageId,__publishTime',
    '--address',
    `127.0.0.1:${gw.gateway.port}`,
  ]
    .map((arg) => `'${arg}'`)
    .join(' ');
  // util-linux `script` runs the command on a pseudo-terminal (stdout and stderr both).
  const { stdout } = await run('script', ['-qec', command, '/dev/null'], { timeout: 60_000 });
  const lines = stdout.split('\r\n');
  const [header, ...rest] = lines;
  const rows = rest.slice(0, 30);
  t.regex(header ?? '', /^__key {2,}__messageId {2,}__publishTime$/);
  const offsets = ['__key', '__messageId', '__publishTime'].map((name) =>
    (header ?? '').indexOf(name),
  );
  const cells = (line: string) =>
    offsets.map((at, i) => line.slice(at, offsets[i + 1] ?? line.length).trim());
  const official = await readOfficial(topic);
  t.deepEqual(
    rows.map(cells),
    official.map((m) => [
      m.key,
      m.message_id.serialized_b64,
      new Date(m.publish_time).toISOString(),
    ]),
  );
  // Every row's columns start where the header's do.
  for (const row of rows) {
    for (const at of offsets.slice(1)) t.regex(row.slice(at - 2, at + 1), /^ {2}\S$/);
  }
  t.regex(lines.slice(30).join('\n'), /history \[#{30}\] 100% — 30 rows; now live/);
});

test('--output writes a bounded read to an Arrow IPC file', async (t) => {
  const topic = freshTopic('cli-output');
  await produce(topic, { count: 25 });
  const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'seam-')), 'out.arrow');
  const { stderr } = await seam(topic, '--end', 'at_open', '--output', file);
  t.regex(stderr, /wrote 25 rows/);
  const table = arrow.tableFromIPC(await readFile(file));
  t.is(table.numRows, 25);
});

test('--output without a bound is refused with what to do', async (t) => {
  const error = await t.throwsAsync(seam('some-topic', '--output', '/tmp/never.arrow'));
  t.regex(
    (error as { stderr?: string }).stderr ?? '',
    /--output needs a bounded read: add --end at_open/,
  );
});
