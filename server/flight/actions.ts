/**
 * Flight actions: what ListActions lists and DoAction runs. Names carry the `seam.` prefix,
 * so they never clash with Flight's own (CancelFlightInfo, RenewFlightEndpoint, ...).
 */
import { SeamError } from '../core/errors.ts';
import type { FlightPlan, PlannedEndpoint } from '../core/flight-plan.ts';
import { topicPartitions } from '../core/plan.ts';
import type { StreamDeps } from '../core/stream.ts';
import type { ActionType } from '../grpc/generated/arrow/flight/protocol/ActionType.ts';
import type { FlightDescriptor__Output } from '../grpc/generated/arrow/flight/protocol/FlightDescriptor.ts';
import { parseTopicName } from '../pulsar/topic-name.ts';
import { isJsonCommand } from './descriptor.ts';

/** What actions take from the Flight service. */
export interface ActionContext {
  /**
   * PollFlightInfo of a serialized FlightDescriptor, as the caller: the serialized
   * FlightInfo, then the serialized next FlightDescriptor unless the read is complete.
   */
  poll(deps: StreamDeps, descriptor: Buffer, signal: AbortSignal): Promise<Buffer[]>;
  /** GetFlightInfo's plan of a descriptor, as the caller. */
  plan(
    deps: StreamDeps,
    descriptor: FlightDescriptor__Output,
    signal: AbortSignal,
  ): Promise<FlightPlan>;
}

/** One action: its name, what it does, and how it runs. */
interface ActionSpec {
  description: string;
  /** The results' bodies for a request body, read as the caller (`deps`). */
  run(
    deps: StreamDeps,
    body: Buffer,
    context: ActionContext,
    signal: AbortSignal,
  ): Promise<Buffer[]>;
}

const actions: Record<string, ActionSpec> = {
  'seam.PollFlightInfo': {
    description:
      "PollFlightInfo for clients without it (pyarrow). Body: a serialized FlightDescriptor (FlightDescriptor.serialize()). Results: the serialized FlightInfo of the new rows since the descriptor's position, then the serialized FlightDescriptor of the next poll; no second result once the read is complete.",
    run: (deps, body, context, signal) => context.poll(deps, body, signal),
  },
  'seam.LastMessageIds': {
    description:
      'Body: JSON {"topic": "..."}. Result: one JSON document {"topic", "endPositions": {"ends": [{"partition", "lastMessageId"}]}}, the last message of each partition now (base64 of the serialized MessageId; "" for an empty partition). It is itself a ReadStreamRequest in proto3 JSON: as a CMD descriptor it reads the topic from earliest up to these messages.',
    run: async (deps, body) => [Buffer.from(JSON.stringify(await lastMessageIds(deps, body)))],
  },
  'seam.Segments': {
    description:
      'Body: a topic name (PATH semantics: earliest to at_open), or a ReadStreamRequest as GetFlightInfo\'s CMD takes it (serialized, or proto3 JSON). Results: one JSON object per history segment GetFlightInfo plans for it, partition by partition in Pulsar order: {"topic", "partition", "ledgerId", "firstEntry", "lastEntry", "entries", "bytes", "open"} (the partition topic; the range\'s entries in the ledger; stored bytes estimated from the ledger metadata; whether the broker is still writing the ledger). Needs the caller\'s consume permission, as GetFlightInfo.',
    run: async (deps, body, context, signal) => {
      const plan = await context.plan(deps, segmentsDescriptor(body), signal);
      return planSegments(plan.endpoints).map((segment) => Buffer.from(JSON.stringify(segment)));
    },
  },
};

/** One history segment of a plan, as seam.Segments answers it. */
export interface SegmentReport {
  topic: string;
  partition: number;
  ledgerId: number;
  firstEntry: number;
  lastEntry: number;
  entries: number;
  bytes: number;
  open: boolean;
}

/** The history segments of a plan: its endpoints but the tails, in order. Pure. */
export function planSegments(endpoints: readonly Pick<PlannedEndpoint, 'info'>[]): SegmentReport[] {
  return endpoints.flatMap(({ info }) =>
    info.ledgerId === undefined
      ? []
      : [
          {
            topic: info.topic,
            partition: info.partition,
            ledgerId: info.ledgerId,
            firstEntry: info.firstEntry,
            lastEntry: info.lastEntry,
            entries: info.lastEntry - info.firstEntry + 1,
            bytes: info.storedBytes,
            open: info.open ?? false,
          },
        ],
  );
}

/**
 * The descriptor a seam.Segments body stands for: JSON (first byte `{`) or bytes that are not
 * printable text are a CMD, as GetFlightInfo takes it; printable text is a topic name (PATH).
 * A serialized ReadStreamRequest starts with its topic's tag (0x0A), never printable. Pure.
 */
export function segmentsDescriptor(body: Buffer): FlightDescriptor__Output {
  const text = body.toString('utf8');
  const printable =
    body.length > 0 &&
    !isJsonCommand(body) &&
    Buffer.from(text, 'utf8').equals(body) &&
    [...text].every((c) => (c.codePointAt(0) ?? 0) >= 0x20);
  return printable
    ? { type: 'PATH', path: [text.trim()], cmd: Buffer.alloc(0) }
    : { type: 'CMD', path: [], cmd: body };
}

/** The actions ListActions lists. */
export function actionTypes(): ActionType[] {
  return Object.entries(actions).map(([type, spec]) => ({
    type,
    description: spec.description,
  }));
}

/** Runs one action as the caller; INVALID_ARGUMENT for an unknown one. */
export function runAction(
  deps: StreamDeps,
  action: { type: string; body: Buffer },
  context: ActionContext,
  signal: AbortSignal,
): Promise<Buffer[]> {
  const { type, body } = action;
  const spec = Object.hasOwn(actions, type) ? actions[type] : undefined;
  if (!spec) {
    throw new SeamError(
      'INVALID_ARGUMENT',
      `unknown action ${JSON.stringify(type)}: this gateway runs ${Object.keys(actions).join(', ')} (ListActions describes them)`,
    );
  }
  return spec.run(deps, body, context, signal);
}

/** The `topic` of a JSON action body, or INVALID_ARGUMENT. */
function topicOf(body: Buffer, action: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new SeamError('INVALID_ARGUMENT', `${action} takes a JSON body: {"topic": "orders"}`, {
      cause: error,
    });
  }
  const topic =
    typeof parsed === 'object' && parsed !== null && 'topic' in parsed ? parsed.topic : undefined;
  if (typeof topic !== 'string' || topic.trim() === '') {
    throw new SeamError('INVALID_ARGUMENT', `${action} takes a JSON body: {"topic": "orders"}`);
  }
  return topic.trim();
}

/** The last message id of every partition of a topic, as the caller reads them now. */
async function lastMessageIds(
  deps: StreamDeps,
  body: Buffer,
): Promise<{
  topic: string;
  endPositions: { ends: { partition: number; lastMessageId: string }[] };
}> {
  const name = parseTopicName(topicOf(body, 'seam.LastMessageIds'));
  const { admin } = deps;
  if (!admin) {
    throw new SeamError(
      'FAILED_PRECONDITION',
      'seam.LastMessageIds needs the admin API: start the gateway with --pulsar-admin-url',
    );
  }
  const partitions = await topicPartitions(deps.client, name);
  const ends = await Promise.all(
    partitions.map(async ({ partition, topic }) => {
      const id = await admin.lastMessageId(topic);
      // An empty partition's last message is (-1, -1): nothing to read from it.
      const empty = id.ledgerId < 0 || id.entryId < 0;
      return {
        partition,
        lastMessageId: empty ? '' : id.serialize().toString('base64'),
      };
    }),
  );
  return { topic: name.full, endPositions: { ends } };
}
