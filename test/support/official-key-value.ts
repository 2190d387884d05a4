/**
 * The official Java client (Pulsar's own jars, as pulsar.sh resolves them) producing and
 * reading KEY_VALUE topics: test/support/OfficialKeyValue.java, compiled once. The
 * Python client 3.13 has no KeyValue schema.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pulsar, runProgram } from './pulsar.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const program = `${root}test/support/OfficialKeyValue.java`;
const classpath = `${root}pulsar/.lib/*`;

let compiled: Promise<{ java: string; classpath: string }> | undefined;

/**
 * The program compiled with the JDK pulsar.sh runs Pulsar with, into a temporary folder
 * named by the source's hash (kept for the next run; a JVM compiling from source on each
 * run takes tens of seconds on two cores).
 */
function compile(): Promise<{ java: string; classpath: string }> {
  compiled ??= (async () => {
    const exec = promisify(execFile);
    const home = (await exec('bash', [`${root}pulsar/pulsar.sh`, 'java-home'])).stdout.trim();
    const hash = createHash('sha256')
      .update(await readFile(program))
      .update(home)
      .digest('hex')
      .slice(0, 16);
    const out = join(tmpdir(), `seam-official-kv-${hash}`);
    if (!existsSync(join(out, 'OfficialKeyValue.class'))) {
      // Compiled beside it, then renamed: a half-written folder is never taken as done.
      const building = await mkdtemp(`${out}-building-`);
      await exec(`${home}/bin/javac`, ['-cp', classpath, '-d', building, program], {
        timeout: 180_000,
      });
      await rename(building, out).catch(() => rm(building, { recursive: true, force: true }));
    }
    return { java: `${home}/bin/java`, classpath: `${out}:${classpath}` };
  })();
  return compiled;
}

/** One JVM at a time: several at once starve each other (and the broker) on two cores. */
let queue: Promise<unknown> = Promise.resolve();

/** A key or value part: `string`, `int32`, `int64`, `double`, or an AVRO/JSON record schema. */
export type PartSchema =
  | 'string'
  | 'int32'
  | 'int64'
  | 'double'
  | { avro: unknown }
  | { json: unknown };

function partArg(part: PartSchema): string {
  if (typeof part === 'string') return part;
  return 'avro' in part ? `avro:${JSON.stringify(part.avro)}` : `json:${JSON.stringify(part.json)}`;
}

/** A message read back by the official client: its decoded key and value. */
export interface OfficialKeyValueMessage {
  message_id_b64: string;
  key: unknown;
  value: unknown;
  /** The message key as stored (base64 of the key's bytes for SEPARATED). */
  message_key: string | null;
  message_key_b64: boolean;
}

/** Produces `messages` (key and value as JSON, null allowed) with a KeyValue schema. */
export async function produceKeyValue(
  topic: string,
  options: {
    encoding: 'INLINE' | 'SEPARATED';
    key: PartSchema;
    value: PartSchema;
    messages: { key: unknown; value: unknown }[];
  },
): Promise<string[]> {
  const input = options.messages.map((m) => JSON.stringify(m)).join('\n');
  const out = await run(
    [
      'produce',
      pulsar.serviceUrl,
      topic,
      options.encoding,
      partArg(options.key),
      partArg(options.value),
    ],
    input,
  );
  return lines(out).map((l) => (JSON.parse(l) as { id_b64: string }).id_b64);
}

/** Reads the whole topic with the official client (AUTO_CONSUME). */
export async function readKeyValue(topic: string): Promise<OfficialKeyValueMessage[]> {
  return lines(await run(['read', pulsar.serviceUrl, topic], '')).map(
    (l) => JSON.parse(l) as OfficialKeyValueMessage,
  );
}

/** The program's JSON lines: the client logs to stdout too. */
function lines(stdout: string): string[] {
  return stdout.split('\n').filter((l) => l.startsWith('{"'));
}

function run(args: string[], input: string): Promise<string> {
  const result = queue.then(() => runNow(args, input));
  queue = result.catch(() => undefined);
  return result;
}

async function runNow(args: string[], input: string): Promise<string> {
  const { java, classpath } = await compile();
  return runProgram(
    java,
    ['-cp', classpath, 'OfficialKeyValue', ...args],
    input,
    'OfficialKeyValue.java',
    120_000,
  );
}
