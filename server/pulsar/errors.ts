/**
 * The Pulsar read path's one error type. `kind` says what happened in Pulsar's own terms
 * (server errors keep their `ServerError` names); `retriable` says whether trying again
 * later can succeed, which decides between reconnecting and giving up.
 */

/**
 * Pulsar's `ServerError` codes (PulsarApi.proto), the one place they are spelled: the
 * broker's errors are looked up here by code, and `retriable` says whether the same
 * operation may succeed later (after a reconnect, a lookup, or the broker's recovery).
 * A new error is one line.
 */
export const serverErrors = [
  { name: 'UnknownError', code: 0, retriable: false },
  { name: 'MetadataError', code: 1, retriable: true },
  { name: 'PersistenceError', code: 2, retriable: true },
  { name: 'AuthenticationError', code: 3, retriable: false },
  { name: 'AuthorizationError', code: 4, retriable: false },
  { name: 'ConsumerBusy', code: 5, retriable: true },
  { name: 'ServiceNotReady', code: 6, retriable: true },
  { name: 'ProducerBlockedQuotaExceededError', code: 7, retriable: false },
  { name: 'ProducerBlockedQuotaExceededException', code: 8, retriable: false },
  { name: 'ChecksumError', code: 9, retriable: false },
  { name: 'UnsupportedVersionError', code: 10, retriable: false },
  { name: 'TopicNotFound', code: 11, retriable: false },
  { name: 'SubscriptionNotFound', code: 12, retriable: false },
  { name: 'ConsumerNotFound', code: 13, retriable: false },
  { name: 'TooManyRequests', code: 14, retriable: true },
  { name: 'TopicTerminatedError', code: 15, retriable: false },
  { name: 'ProducerBusy', code: 16, retriable: false },
  { name: 'InvalidTopicName', code: 17, retriable: false },
  { name: 'IncompatibleSchema', code: 18, retriable: false },
  { name: 'ConsumerAssignError', code: 19, retriable: false },
  { name: 'TransactionCoordinatorNotFound', code: 20, retriable: false },
  { name: 'InvalidTxnStatus', code: 21, retriable: false },
  { name: 'NotAllowedError', code: 22, retriable: false },
  { name: 'TransactionConflict', code: 23, retriable: false },
  { name: 'TransactionNotFound', code: 24, retriable: false },
  { name: 'ProducerFenced', code: 25, retriable: false },
] as const;

/** A `ServerError` name. */
export type ServerErrorName = (typeof serverErrors)[number]['name'];

/** Errors of Seam's own making, in the same shape: no broker code. */
const clientErrors = [
  /** No answer in time. */
  { name: 'Timeout', retriable: true },
  /** The connection closed or could not be opened. */
  { name: 'ConnectionClosed', retriable: true },
  /** Bytes that break the protocol: corrupt frame, bad checksum, undecodable metadata. */
  { name: 'ProtocolError', retriable: true },
  /** A message Seam cannot decode (encrypted, unknown codec, chunks it cannot assemble). */
  { name: 'UnreadableMessage', retriable: false },
  /** The caller stopped the operation. */
  { name: 'Aborted', retriable: false },
] as const;

/** What went wrong, in Pulsar's terms: a server error's name, or one of Seam's own. */
export type PulsarErrorKind = ServerErrorName | (typeof clientErrors)[number]['name'];

const retriableKinds = new Set<PulsarErrorKind>(
  [...serverErrors, ...clientErrors].filter((e) => e.retriable).map((e) => e.name),
);

/** The server error with `code`; UnknownError for a code Seam does not know. */
export function serverErrorOf(code: number): (typeof serverErrors)[number] {
  return serverErrors[code] ?? serverErrors[0];
}

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

  /** The broker's `ServerError` `code` and message, for the operation `what`. */
  static fromServer(code: number, what: string, serverMessage: string): PulsarError {
    const { name } = serverErrorOf(code);
    return new PulsarError(
      name,
      serverMessage ? `${what}: ${name}: ${serverMessage}` : `${what}: ${name}`,
    );
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
