/**
 * The Pulsar read path's one error type. `kind` says what happened in Pulsar's own terms
 * (server errors keep their `ServerError` names); `retriable` says whether trying again
 * later can succeed, which decides between reconnecting and giving up.
 */

/** What went wrong, in Pulsar's terms. */
export type PulsarErrorKind =
  | 'TopicNotFound'
  | 'InvalidTopicName'
  | 'AuthenticationError'
  | 'AuthorizationError'
  | 'ServiceNotReady'
  | 'TooManyRequests'
  | 'MetadataError'
  | 'PersistenceError'
  | 'ConsumerBusy'
  | 'NotAllowedError'
  | 'UnknownError'
  /** No answer in time. */
  | 'Timeout'
  /** The connection closed or could not be opened. */
  | 'ConnectionClosed'
  /** Bytes that break the protocol: corrupt frame, bad checksum, undecodable metadata. */
  | 'ProtocolError'
  /** A message Seam cannot decode (encrypted, unknown codec). */
  | 'UnreadableMessage'
  /** The caller stopped the operation. */
  | 'Aborted';

const retriableKinds = new Set<PulsarErrorKind>([
  'ServiceNotReady',
  'TooManyRequests',
  'MetadataError',
  'PersistenceError',
  'ConsumerBusy',
  'Timeout',
  'ConnectionClosed',
  'ProtocolError',
]);

/** An error from the Pulsar read path. */
export class PulsarError extends Error {
  override name = 'PulsarError';
  readonly kind: PulsarErrorKind;
  /** Whether the same operation may succeed later (after a reconnect or a lookup). */
  readonly retriable: boolean;
  /**
   * The broker's URL, for the gateway's logs. Kept out of `message`, which callers see:
   * internal addresses are not theirs to know.
   */
  readonly broker: string | undefined;

  constructor(
    kind: PulsarErrorKind,
    message: string,
    options?: { cause?: unknown; retriable?: boolean; broker?: string | undefined },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.kind = kind;
    this.retriable = options?.retriable ?? retriableKinds.has(kind);
    this.broker = options?.broker;
  }

  /** Wraps anything thrown into a PulsarError, keeping PulsarErrors as they are. */
  static from(error: unknown, kind: PulsarErrorKind = 'UnknownError'): PulsarError {
    if (error instanceof PulsarError) return error;
    if (error instanceof Error && error.name === 'AbortError') {
      return new PulsarError('Aborted', 'the operation was aborted', { cause: error });
    }
    const message = error instanceof Error ? error.message : String(error);
    return new PulsarError(kind, message, { cause: error });
  }
}
