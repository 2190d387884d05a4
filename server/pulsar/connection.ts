/**
 * One TCP (or TLS) connection to a Pulsar broker: the CONNECT handshake, requests matched
 * to responses by request id, consumers' messages routed by consumer id, keepalive, and
 * auth challenges. Any protocol violation closes the connection; its consumers and pending
 * requests fail with a retriable error and reconnect above this layer.
 */
import net from 'node:net';
import tls from 'node:tls';
import { PulsarError } from './errors.ts';
import {
  type AuthFields,
  decodeCommand,
  encodeAuthResponse,
  encodeConnect,
  encodePing,
  encodePong,
  type Incoming,
  type Response,
} from './protocol/commands.ts';
import { type Frame, FrameDecoder } from './protocol/frame.ts';

/** Supplies credentials at connect time and whenever the broker challenges them. */
export interface AuthProvider {
  /** Pulsar's auth method name, e.g. `token`. */
  readonly method: string;
  /** The current credentials (e.g. the token's bytes). */
  authData(): Buffer | Promise<Buffer>;
}

/**
 * The caller Seam speaks for on a connection, as Pulsar's proxy does: the broker
 * authorizes `principal` (and Seam's own role, which must be in its `proxyRoles`), and,
 * with `authenticateOriginalAuthData`, authenticates the caller's own credentials too.
 */
export interface OriginalCaller {
  principal: string;
  /** The caller's credentials (its token); absent for a role from a client certificate. */
  auth?: AuthProvider | undefined;
}

/** How to reach a broker and how patient to be. */
export interface ConnectionOptions {
  /** Physical address: `pulsar://host:port` or `pulsar+ssl://host:port`. */
  url: string;
  /** The broker to reach through a proxy at `url`, as `host:port`. */
  proxyToBrokerUrl?: string | undefined;
  /** TLS settings for `pulsar+ssl://` (CA, client certificate, servername). */
  tls?: tls.ConnectionOptions | undefined;
  auth?: AuthProvider | undefined;
  /** The caller this connection is for; Seam's own connection when absent. */
  original?: OriginalCaller | undefined;
  connectTimeoutMs?: number;
  /** How long a request waits for its response. */
  operationTimeoutMs?: number;
  /** PING after this long without traffic; close after two intervals without an answer. */
  keepAliveIntervalMs?: number;
}

/**
 * How long an operation (a request, or an open with its lookups and connects retried while
 * Pulsar is unavailable) may take, by default: 30 s, as the official clients.
 */
export const defaultOperationTimeoutMs = 30_000;

const defaults = {
  connectTimeoutMs: 10_000, // 10 s
  operationTimeoutMs: defaultOperationTimeoutMs,
  keepAliveIntervalMs: 30_000, // 30 s, as the official clients
};

/** Receives what the broker sends for one consumer. */
export interface ConsumerHandler {
  /** A MESSAGE command and the entry bytes after it. */
  onMessage(command: Extract<Incoming, { type: 'MESSAGE' }>, entry: Buffer): void;
  /** The broker closed the consumer (topic unloaded or moved): subscribe again. */
  onClosedByBroker(): void;
  /** The topic was terminated and every message has been delivered. */
  onEndOfTopic(): void;
  /** The connection is gone. */
  onConnectionClosed(error: PulsarError): void;
}

interface Pending {
  resolve(response: Response): void;
  reject(error: PulsarError): void;
  timer: NodeJS.Timeout;
  what: string;
}

/** Identifies Seam to brokers (`client_version` in CONNECT). */
export const clientVersion = 'Seam 0.1.0';

/** A connection to one broker, ready for requests once `connect` resolves. */
export class Connection {
  readonly url: string;
  /** The largest message the broker accepts, from CONNECTED. */
  maxMessageSize = 5 * 1024 * 1024;
  serverVersion = '';
  private readonly options: ConnectionOptions;
  private readonly socket: net.Socket;
  private readonly decoder: FrameDecoder;
  private readonly pending = new Map<number, Pending>();
  private readonly consumers = new Map<number, ConsumerHandler>();
  private readonly closeListeners = new Set<(error: PulsarError) => void>();
  private nextRequestId = 1;
  private nextConsumerId = 1;
  private closedWith: PulsarError | undefined;
  private keepAlive: NodeJS.Timeout | undefined;
  private heardSinceLastCheck = true;
  private awaitingPong = false;
  private handshake:
    | { resolve(): void; reject(error: PulsarError): void; timer: NodeJS.Timeout }
    | undefined;

  private constructor(options: ConnectionOptions, socket: net.Socket, decoder: FrameDecoder) {
    this.options = options;
    this.url = options.url;
    this.socket = socket;
    this.decoder = decoder;
  }

  /** Opens a connection and completes the CONNECT handshake. */
  static async connect(options: ConnectionOptions): Promise<Connection> {
    const { host, port, secure } = parseServiceUrl(options.url);
    const decoder = new FrameDecoder();
    let connection: Connection | undefined;
    const socket = secure
      ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host, ...options.tls })
      : // The decoder chooses where each read lands: a large frame straight into its own
        // buffer (FrameDecoder.readBuffer); no 'data' events.
        net.connect({
          host,
          port,
          onread: {
            // Also called as the socket is made, before the connection exists.
            buffer: () => decoder.readBuffer(),
            callback: (n: number) => {
              connection?.receiveRead(n);
              return true;
            },
          },
        });
    socket.setNoDelay(true);
    connection = new Connection(options, socket, decoder);
    await connection.open(secure);
    return connection;
  }

  private open(secure: boolean): Promise<void> {
    const timeoutMs = this.options.connectTimeoutMs ?? defaults.connectTimeoutMs;
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          this.close(
            new PulsarError(
              'Timeout',
              `no answer to CONNECT from the broker within ${timeoutMs} ms`,
              {
                broker: this.url,
              },
            ),
          ),
        timeoutMs,
      );
      this.handshake = { resolve, reject, timer };
    });
    // A TLS socket hands out chunks; a plain one reads through `onread` (see `connect`).
    if (secure) this.socket.on('data', (chunk: Buffer) => this.receive(chunk));
    this.socket.on('error', (error: NodeJS.ErrnoException) => {
      // A certificate the client does not trust stays untrusted: retrying cannot help.
      const untrusted = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL/.test(error.code ?? '');
      this.close(
        // The code, not Node's message: that names the broker's address.
        new PulsarError(
          'ConnectionClosed',
          `connection to the broker failed: ${untrusted ? error.message : (error.code ?? error.message)}`,
          { cause: error, retriable: !untrusted, broker: this.url },
        ),
      );
    });
    this.socket.on('close', () =>
      this.close(
        new PulsarError('ConnectionClosed', 'connection to the broker closed', {
          broker: this.url,
        }),
      ),
    );
    this.socket.once(secure ? 'secureConnect' : 'connect', () => {
      void this.sendConnect();
    });
    return ready;
  }

  private async sendConnect(): Promise<void> {
    try {
      const original = this.options.original;
      this.socket.write(
        encodeConnect({
          clientVersion,
          auth: await this.credentials(),
          proxyToBrokerUrl: this.options.proxyToBrokerUrl,
          originalPrincipal: original?.principal,
          originalAuth: original?.auth && (await credentialsOf(original.auth)),
        }),
      );
    } catch (error) {
      this.close(PulsarError.from(error, 'AuthenticationError'));
    }
  }

  private async credentials(): Promise<AuthFields | undefined> {
    return this.options.auth && credentialsOf(this.options.auth);
  }

  /** True while no consumer and no request uses the connection. */
  get idle(): boolean {
    return this.consumers.size === 0 && this.pending.size === 0;
  }

  /** True once closed; every later call fails. */
  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  /** Calls `listener` once when the connection closes. */
  onClose(listener: (error: PulsarError) => void): void {
    if (this.closedWith) listener(this.closedWith);
    else this.closeListeners.add(listener);
  }

  /** A request id unique on this connection. */
  newRequestId(): number {
    return this.nextRequestId++;
  }

  /** A consumer id unique on this connection. */
  newConsumerId(): number {
    return this.nextConsumerId++;
  }

  /** Routes a consumer's messages and events to `handler`. */
  addConsumer(consumerId: number, handler: ConsumerHandler): void {
    this.consumers.set(consumerId, handler);
  }

  removeConsumer(consumerId: number): void {
    this.consumers.delete(consumerId);
  }

  /** Writes a framed command. */
  send(frame: Buffer): void {
    if (this.closedWith) throw this.closedWith;
    this.socket.write(frame);
  }

  /**
   * Sends the command `build` frames with a fresh request id and waits for its response.
   * An ERROR response rejects with the server's error.
   */
  request(what: string, build: (requestId: number) => Buffer): Promise<Response> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const requestId = this.newRequestId();
    const timeoutMs = this.options.operationTimeoutMs ?? defaults.operationTimeoutMs;
    return new Promise<Response>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        reject(
          new PulsarError('Timeout', `${what}: no answer from the broker within ${timeoutMs} ms`, {
            broker: this.url,
          }),
        );
      }, timeoutMs);
      this.pending.set(requestId, { resolve, reject, timer, what });
      this.socket.write(build(requestId));
    });
  }

  /** Closes the connection; pending requests and consumers fail with `error`. */
  close(
    error = new PulsarError('ConnectionClosed', 'connection to the broker closed by Seam', {
      broker: this.url,
    }),
  ): void {
    if (this.closedWith) return;
    this.closedWith = error;
    clearInterval(this.keepAlive);
    this.socket.destroy();
    if (this.handshake) {
      clearTimeout(this.handshake.timer);
      this.handshake.reject(error);
      this.handshake = undefined;
    }
    for (const pending of this.pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
    this.pending.clear();
    for (const consumer of this.consumers.values()) consumer.onConnectionClosed(error);
    this.consumers.clear();
    for (const listener of this.closeListeners) listener(error);
    this.closeListeners.clear();
  }

  private receive(chunk: Buffer): void {
    this.handle(() => this.decoder.push(chunk));
  }

  /** `n` bytes were read into the decoder's `readBuffer`. */
  private receiveRead(n: number): void {
    this.handle(() => this.decoder.pushRead(n));
  }

  private handle(frames: () => Frame[]): void {
    this.heardSinceLastCheck = true;
    try {
      for (const frame of frames()) {
        this.dispatch(decodeCommand(frame.command), frame.rest);
      }
    } catch (error) {
      this.close(
        new PulsarError(
          'ProtocolError',
          `unreadable data from the broker: ${(error as Error).message}`,
          { cause: error, broker: this.url },
        ),
      );
    }
  }

  private dispatch(command: Incoming, rest: Buffer): void {
    switch (command.type) {
      case 'MESSAGE':
        this.consumers.get(command.consumerId)?.onMessage(command, rest);
        return;
      case 'CONNECTED':
        this.connected(command);
        return;
      case 'PING':
        this.socket.write(encodePong());
        return;
      case 'PONG':
        this.awaitingPong = false;
        return;
      case 'AUTH_CHALLENGE':
        void this.answerChallenge();
        return;
      case 'CLOSE_CONSUMER': {
        const consumer = this.consumers.get(command.consumerId);
        this.consumers.delete(command.consumerId);
        consumer?.onClosedByBroker();
        return;
      }
      case 'REACHED_END_OF_TOPIC':
        this.consumers.get(command.consumerId)?.onEndOfTopic();
        return;
      case 'ERROR':
        if (this.handshake) {
          // An ERROR before CONNECTED is the broker refusing the handshake.
          this.close(
            PulsarError.fromServer(command.error, 'connecting to the broker', command.message),
          );
          return;
        }
        this.settle(command);
        return;
      case 'CLOSE_PRODUCER':
      case 'ACTIVE_CONSUMER_CHANGE':
      case 'TOPIC_MIGRATED':
      case 'UNKNOWN':
        return;
      default:
        this.settle(command);
    }
  }

  private settle(response: Response): void {
    const pending = this.pending.get(response.requestId);
    if (!pending) return;
    this.pending.delete(response.requestId);
    clearTimeout(pending.timer);
    if (response.type === 'ERROR') {
      pending.reject(PulsarError.fromServer(response.error, pending.what, response.message));
    } else {
      pending.resolve(response);
    }
  }

  private connected(command: Extract<Incoming, { type: 'CONNECTED' }>): void {
    if (command.maxMessageSize > 0) this.maxMessageSize = command.maxMessageSize;
    this.serverVersion = command.serverVersion;
    const handshake = this.handshake;
    if (!handshake) return;
    this.handshake = undefined;
    clearTimeout(handshake.timer);
    const interval = this.options.keepAliveIntervalMs ?? defaults.keepAliveIntervalMs;
    this.keepAlive = setInterval(() => this.checkAlive(), interval);
    this.keepAlive.unref();
    handshake.resolve();
  }

  /** Runs every keepalive interval: PING a quiet broker, give up on a silent one. */
  private checkAlive(): void {
    if (this.heardSinceLastCheck) {
      this.heardSinceLastCheck = false;
      this.awaitingPong = false;
      return;
    }
    if (this.awaitingPong) {
      this.close(
        new PulsarError('Timeout', 'the broker stopped answering (no PONG to a keepalive PING)', {
          broker: this.url,
        }),
      );
      return;
    }
    this.awaitingPong = true;
    this.socket.write(encodePing());
  }

  /**
   * Answers an AUTH_CHALLENGE. On a connection for a caller the broker re-checks the
   * caller's credentials (it challenges when they expire), so the answer is the caller's
   * current token; otherwise Seam's own.
   */
  private async answerChallenge(): Promise<void> {
    try {
      const caller = this.options.original?.auth;
      const auth = caller ? await credentialsOf(caller) : await this.credentials();
      if (!auth)
        throw new PulsarError(
          'AuthenticationError',
          'the broker challenged credentials Seam does not have',
          { broker: this.url },
        );
      this.socket.write(encodeAuthResponse(clientVersion, auth));
    } catch (error) {
      this.close(PulsarError.from(error, 'AuthenticationError'));
    }
  }
}

async function credentialsOf(auth: AuthProvider): Promise<AuthFields> {
  return { method: auth.method, data: await auth.authData() };
}

/** Host, port and TLS of a `pulsar://` or `pulsar+ssl://` URL. */
export function parseServiceUrl(url: string): { host: string; port: number; secure: boolean } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new PulsarError('ConnectionClosed', `not a Pulsar service URL: ${url}`, {
      retriable: false,
    });
  }
  const secure = parsed.protocol === 'pulsar+ssl:';
  if (!secure && parsed.protocol !== 'pulsar:') {
    throw new PulsarError(
      'ConnectionClosed',
      `not a Pulsar service URL (pulsar:// or pulsar+ssl://): ${url}`,
      {
        retriable: false,
      },
    );
  }
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(parsed.port || (secure ? 6651 : 6650)), secure };
}
