/**
 * The gateway's one error type. Its `code` names a gRPC status (the core knows their names,
 * not gRPC); the message says what happened and what to do; `resumeToken`, when set, lets
 * the client continue after the last batch it received.
 */
import { UnknownColumnError } from '../arrow/batch-builder.ts';
import { UnsupportedSchemaError, ValueDecodeError } from '../arrow/value-schema.ts';
import { PulsarError } from '../pulsar/errors.ts';
import { InvalidMessageIdError } from '../pulsar/message-id.ts';
import { InvalidTopicNameError } from '../pulsar/topic-name.ts';

/** The gRPC status codes the gateway uses, by name. */
export type StatusName =
  | 'CANCELLED'
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'UNAUTHENTICATED'
  | 'PERMISSION_DENIED'
  | 'FAILED_PRECONDITION'
  | 'DATA_LOSS'
  | 'RESOURCE_EXHAUSTED'
  | 'UNAVAILABLE'
  | 'INTERNAL';

/** An error a stream ends with. */
export class SeamError extends Error {
  override name = 'SeamError';
  readonly code: StatusName;
  /** Where to resume after the last batch the client received, if anything was sent. */
  resumeToken: Buffer | undefined;

  constructor(
    code: StatusName,
    message: string,
    options?: { cause?: unknown; resumeToken?: Buffer | undefined },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.resumeToken = options?.resumeToken;
  }

  /** Classifies anything thrown on the read path. */
  static from(error: unknown): SeamError {
    if (error instanceof SeamError) return error;
    if (error instanceof InvalidTopicNameError || error instanceof InvalidMessageIdError) {
      return new SeamError('INVALID_ARGUMENT', error.message, { cause: error });
    }
    if (error instanceof UnknownColumnError)
      return new SeamError('INVALID_ARGUMENT', error.message, { cause: error });
    if (error instanceof UnsupportedSchemaError || error instanceof ValueDecodeError) {
      return new SeamError('FAILED_PRECONDITION', error.message, { cause: error });
    }
    if (error instanceof PulsarError) return fromPulsar(error);
    if (error instanceof Error && error.name === 'AbortError') {
      return new SeamError('CANCELLED', 'the stream was cancelled', { cause: error });
    }
    const message = error instanceof Error ? error.message : String(error);
    return new SeamError('INTERNAL', `internal error: ${message}`, { cause: error });
  }
}

function fromPulsar(error: PulsarError): SeamError {
  const options = { cause: error };
  switch (error.kind) {
    case 'TopicNotFound':
      return new SeamError(
        'NOT_FOUND',
        `${error.message}: check the topic name, or create the topic first`,
        options,
      );
    case 'InvalidTopicName':
      return new SeamError('INVALID_ARGUMENT', error.message, options);
    case 'AuthenticationError':
      return new SeamError('UNAUTHENTICATED', error.message, options);
    case 'AuthorizationError':
      return new SeamError('PERMISSION_DENIED', error.message, options);
    case 'TooManyRequests':
      return new SeamError('RESOURCE_EXHAUSTED', error.message, options);
    case 'UnreadableMessage':
      return new SeamError('FAILED_PRECONDITION', error.message, options);
    case 'Aborted':
      return new SeamError('CANCELLED', error.message, options);
    default:
      return error.retriable
        ? new SeamError(
            'UNAVAILABLE',
            `Pulsar is unavailable: ${error.message}; retry with the last resume token`,
            options,
          )
        : new SeamError('INTERNAL', error.message, options);
  }
}
