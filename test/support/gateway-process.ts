/**
 * The gateway under test, as its own process (`node server/cli.ts serve`), with its memory
 * read from /proc: the benchmark's RSS figures are this process's alone. Shared by the
 * memory tests and bench/ (bench imports test support, as bench/fuzz.ts does; no test
 * imports bench), which runs its bare gRPC ceiling as a ServerProcess too.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import http2 from 'node:http2';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { apiType } from '../../server/api.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Resident memory of a process, bytes: now and at its peak since it started. */
export interface Memory {
  rss: number;
  peak: number;
}

/**
 * A server run as its own Node process (the gateway, or the benchmark's bare gRPC ceiling),
 * its CPU and memory read from /proc.
 */
export class ServerProcess {
  readonly address: string;
  private readonly child: ChildProcess;

  protected constructor(child: ChildProcess, port: number) {
    this.child = child;
    this.address = `127.0.0.1:${port}`;
  }

  /**
   * Starts `node ...argv` and resolves once a line on its stdout matches `serving`, whose
   * first group is the port the server picked.
   * @param name what the server is, for errors.
   */
  static async launch(
    name: string,
    argv: string[],
    env: NodeJS.ProcessEnv,
    serving: RegExp,
  ): Promise<ServerProcess> {
    const { child, port } = await ServerProcess.spawn(name, argv, env, serving);
    return new ServerProcess(child, port);
  }

  /** Spawns the process and waits for its serving line: see `launch`. */
  protected static async spawn(
    name: string,
    argv: string[],
    env: NodeJS.ProcessEnv,
    serving: RegExp,
  ): Promise<{ child: ChildProcess; port: number }> {
    const child = spawn(process.execPath, argv, {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const port = await new Promise<number>((resolve, reject) => {
      const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
      const seen: string[] = [];
      const fail = (why: string) => {
        child.kill('SIGKILL');
        reject(new Error(`${name} ${why}; its last lines:\n${seen.slice(-5).join('\n')}`));
      };
      const timer = setTimeout(() => fail('did not serve within 60 s'), 60_000);
      lines.on('line', (line) => {
        seen.push(line);
        const match = serving.exec(line);
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        fail(`exited with ${code} at start`);
      });
    });
    return { child, port };
  }

  /**
   * CPU seconds the process has used so far, user plus system (/proc/<pid>/stat, in the
   * kernel's 100 Hz ticks). Differences around a read give the gateway's CPU per message, a
   * figure that moves far less than wall time when other work shares the machine.
   */
  async cpuSeconds(): Promise<number> {
    const stat = await readFile(`/proc/${this.child.pid}/stat`, 'utf8');
    // Fields after the parenthesised command name, which may itself contain spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of stat(5); the slice starts at field 3.
    return (Number(fields[11]) + Number(fields[12])) / 100;
  }

  /** The process's resident memory (VmRSS) and its high-water mark (VmHWM). */
  async memory(): Promise<Memory> {
    const status = await readFile(`/proc/${this.child.pid}/status`, 'utf8');
    const kib = (field: string) =>
      Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1]) * 1024;
    return { rss: kib('VmRSS'), peak: kib('VmHWM') };
  }

  /** Samples RSS every `intervalMs` until `stop` is called; returns the samples (bytes). */
  sampleRss(intervalMs: number): { stop: () => number[] } {
    const samples: number[] = [];
    const timer = setInterval(() => {
      this.memory().then(
        (m) => samples.push(m.rss),
        () => {},
      );
    }, intervalMs);
    return {
      stop: () => {
        clearInterval(timer);
        return samples;
      },
    };
  }

  /** SIGTERM, and waits for the exit (a --cpu-prof profile is written then). */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
  }
}

/** A running `seam serve`. */
export class GatewayProcess extends ServerProcess {
  /**
   * Starts the gateway on a free port and resolves once it serves.
   * @param nodeFlags e.g. `['--cpu-prof', '--cpu-prof-dir', dir]`.
   * @param tree the checkout whose gateway runs (this one by default; the benchmarks run an
   *   older commit's from its own worktree to compare the two on the same data).
   */
  static async start(
    env: NodeJS.ProcessEnv,
    nodeFlags: string[] = [],
    tree = root,
  ): Promise<GatewayProcess> {
    const { child, port } = await ServerProcess.spawn(
      'the gateway',
      [...nodeFlags, join(tree, 'server/cli.ts'), 'serve', '--port', '0', '--metrics-port', '0'],
      { ...env, SEAM_LOG_LEVEL: 'info', SEAM_PLAINTEXT: 'true' },
      // The serving log line names the port the gateway picked.
      /serving seam\.v1\.SeamService(?: and [\w.]+)* on [^ ]+:(\d+)/,
    );
    return new GatewayProcess(child, port);
  }
}

/**
 * Opens a bounded ReadStream of `topic`, takes its first response, then stops reading until
 * `close()`. It speaks HTTP/2 itself so that, paused, it really stops taking bytes: no
 * WINDOW_UPDATE, so flow control pushes back on the gateway (a paused grpc-js stream keeps
 * reading into its own buffers).
 */
export async function pausedStream(address: string, topic: string): Promise<{ close(): void }> {
  const session = http2.connect(`http://${address}`);
  session.on('error', () => {}); // closing it mid-stream is the point
  const ReadStreamRequest = apiType('ReadStreamRequest');
  const body = Buffer.from(
    ReadStreamRequest.encode(ReadStreamRequest.fromObject({ topic, at_open: {} })).finish(),
  );
  const header = Buffer.alloc(5);
  header.writeUInt32BE(body.length, 1);
  const call = session.request({
    ':method': 'POST',
    ':path': '/seam.v1.SeamService/ReadStream',
    'content-type': 'application/grpc',
    te: 'trailers',
  });
  call.on('error', () => {});
  call.end(Buffer.concat([header, body]));
  await new Promise((resolve) => call.once('data', resolve));
  call.pause();
  return {
    close() {
      call.close();
      session.destroy();
    },
  };
}
