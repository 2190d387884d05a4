/**
 * Reading as a caller: the stream's Pulsar client and admin speak for the caller, so the
 * brokers' own authorization decides every lookup, schema read, subscription and admin
 * call; and, while the stream is open, the caller's access is checked again, because a
 * broker does not close consumers whose grant was revoked (measured with 4.0.8: messages
 * published after `revoke-permission` still reached the open consumer).
 */
import { SeamError } from '../core/errors.ts';
import type { StreamDeps } from '../core/stream.ts';
import { callerCredentials } from '../pulsar/client.ts';
import { PulsarError } from '../pulsar/errors.ts';
import { parseTopicName, partitionTopic } from '../pulsar/topic-name.ts';
import type { Caller } from './authenticate.ts';

/** The stream's dependencies with every Pulsar call made as `caller`. */
export function depsForCaller(deps: StreamDeps, caller: Caller): StreamDeps {
  return {
    ...deps,
    client: deps.client.forCaller(callerCredentials(caller.principal, caller.token)),
    admin: deps.admin?.forCaller(caller),
  };
}

/**
 * Asks the brokers, as the caller, whether it may still read `topic`: the partition
 * count (lookup permission), then the last message id of its first partition, which needs
 * `consume` (a role with `produce` only is refused it). Resolves when access holds; throws
 * PERMISSION_DENIED when the broker refuses; other failures (a broker restarting) are left
 * to the stream's own reconnects and do not end it.
 */
export async function checkAccess(callerDeps: StreamDeps, topic: string): Promise<void> {
  try {
    const name = parseTopicName(topic);
    const partitions = name.partition >= 0 ? 0 : await callerDeps.client.partitions(name.full);
    const first = partitions > 0 ? partitionTopic(name.full, 0) : name.full;
    await callerDeps.admin?.lastMessageId(first);
  } catch (error) {
    if (
      error instanceof PulsarError &&
      (error.kind === 'AuthorizationError' || error.kind === 'AuthenticationError')
    ) {
      throw new SeamError(
        'PERMISSION_DENIED',
        `the caller's access to ${topic} was withdrawn while the stream was open (${error.message})`,
        { cause: error },
      );
    }
  }
}

/**
 * Watches an open stream's caller: aborts `abort` with UNAUTHENTICATED when the caller's
 * token expires, and with PERMISSION_DENIED when `checkAccess` (every `intervalMs`) finds
 * access withdrawn. Returns a function that stops watching.
 */
export function watchCaller(options: {
  caller: Caller;
  callerDeps: StreamDeps;
  topic: string;
  intervalMs: number;
  abort: AbortController;
}): () => void {
  const { caller, abort } = options;
  const timers: NodeJS.Timeout[] = [];
  if (caller.expiresAt !== undefined) {
    // setTimeout holds at most 2^31-1 ms (24.8 days); longer tokens are re-checked by the
    // brokers (they challenge expired credentials) and by the access checks.
    const delay = caller.expiresAt - Date.now();
    if (delay < 2 ** 31 - 1) {
      timers.push(
        setTimeout(
          () =>
            abort.abort(
              new SeamError(
                'UNAUTHENTICATED',
                'the caller token expired during the stream: resume with a new token and the resume token in the trailers',
              ),
            ),
          Math.max(0, delay),
        ),
      );
    }
  }
  let checking = false;
  timers.push(
    setInterval(() => {
      if (checking || abort.signal.aborted) return;
      checking = true;
      checkAccess(options.callerDeps, options.topic)
        .catch((error: unknown) => abort.abort(error))
        .finally(() => {
          checking = false;
        });
    }, options.intervalMs),
  );
  for (const timer of timers) timer.unref();
  return () => {
    for (const timer of timers) clearTimeout(timer);
  };
}
