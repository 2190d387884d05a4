/**
 * `arrow.flight.protocol.FlightService` on the gateway's port, beside SeamService, through
 * the same serve path (serve.ts): TLS, authentication, limits, telemetry and shutdown are the
 * gateway's. Seam is read-only: DoPut and DoExchange are UNIMPLEMENTED.
 *
 * Flight clients fold status codes (Arrow Java reads DATA_LOSS as INTERNAL; pyarrow reads
 * FAILED_PRECONDITION as ArrowInvalid) and see no trailers, so every Flight status message
 * starts with its code in words ("data loss: ...") for engines to tell them apart by text.
 * Seam never sets `x-arrow-status`: Arrow C++ would replace the gRPC code with it.
 */
import { existsSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { loaderOptions, protoRoot } from '../api.ts';
import { SeamError } from '../core/errors.ts';
import { checkRange, planFlight, rangeRequest } from '../core/flight-plan.ts';
import { pollFlight } from '../core/flight-poll.ts';
import { readStream, type StreamDeps, type StreamEvent } from '../core/stream.ts';
import { decodeTicket, type TicketKeyRing, type TicketRange } from '../core/ticket.ts';
import type { Action__Output } from '../grpc/generated/arrow/flight/protocol/Action.ts';
import type { ActionType } from '../grpc/generated/arrow/flight/protocol/ActionType.ts';
import type { Criteria__Output } from '../grpc/generated/arrow/flight/protocol/Criteria.ts';
import type {
  FlightDescriptor,
  FlightDescriptor__Output,
} from '../grpc/generated/arrow/flight/protocol/FlightDescriptor.ts';
import type { FlightInfo } from '../grpc/generated/arrow/flight/protocol/FlightInfo.ts';
import type { HandshakeRequest__Output } from '../grpc/generated/arrow/flight/protocol/HandshakeRequest.ts';
import type { HandshakeResponse } from '../grpc/generated/arrow/flight/protocol/HandshakeResponse.ts';
import type { PollInfo } from '../grpc/generated/arrow/flight/protocol/PollInfo.ts';
import type { Result } from '../grpc/generated/arrow/flight/protocol/Result.ts';
import type { SchemaResult } from '../grpc/generated/arrow/flight/protocol/SchemaResult.ts';
import type { Ticket__Output } from '../grpc/generated/arrow/flight/protocol/Ticket.ts';
import { type Response, serializeResponse } from '../grpc/responses.ts';
import { type ServePath, type StatusMapper, toStatus, type Wire } from '../grpc/serve.ts';
import { type ActionContext, actionTypes, runAction } from './actions.ts';
import { descriptorRequest, type RequestDeserializer } from './descriptor.ts';
import { announcedSchema, flightSchemaBytes, listedFlight, plannedFlight } from './info.ts';
import { withLocations } from './locations.ts';
import { pollInfo, pollRequest } from './poll.ts';

/** The Flight service's full name, for health and reflection. */
export const flightServiceName = 'arrow.flight.protocol.FlightService';

/** Where scripts/java-client.sh extracts Flight.proto from Arrow Java's flight-core jar. */
const flightProto = 'arrow/flight/protocol/Flight.proto';

/**
 * Flight.proto as proto-loader reads it, with the gateway's options; shared with reflection.
 * Undefined when setup has not extracted it (no Java or Maven where the gateway was set up):
 * the gateway then serves ReadStream without Flight rather than not at all.
 */
export function loadFlightDefinition(): protoLoader.PackageDefinition | undefined {
  if (!existsSync(`${protoRoot}/${flightProto}`)) return undefined;
  return protoLoader.loadSync(flightProto, loaderOptions);
}

/** Why Flight is off, for the gateway's start-up warning. */
export const flightMissing = `Arrow Flight is off: proto/${flightProto} is missing; run 'npm run setup' (it extracts Flight.proto from Arrow Java's flight-core jar, with Maven and a JDK)`;

/** A status for a Flight client: the code's name in words first ("data loss: ..."). */
const flightStatus: StatusMapper = (error, lastToken) => {
  const failure = SeamError.from(error);
  const status = toStatus(failure, lastToken);
  const word = failure.code.toLowerCase().replaceAll('_', ' ');
  return status.details.startsWith(`${word}:`)
    ? status
    : { ...status, details: `${word}: ${status.details}` };
};

/** Flight's wire: statuses worded for Flight clients, responses without empty fields. */
const flightWire: Wire = { status: flightStatus, responses: 'flight' };

const readOnly = 'Seam is read-only: publish with a Pulsar client';

/**
 * A ticket's stream: ReadStream's for its range (read with the schema version the ticket
 * pins, so the endpoints of one FlightInfo concatenate), except that a sealed range sends no
 * seam marker: it has no tail to mark.
 */
async function* rangeEvents(
  events: AsyncIterable<StreamEvent>,
  range: TicketRange,
): AsyncGenerator<StreamEvent> {
  for await (const event of events) {
    if (event.kind === 'seam' && range.lastMessageId !== undefined) continue;
    yield event;
  }
}

/** Settings of the Flight service. */
export interface FlightServiceOptions {
  /** HMAC keys for tickets; CRC32C-tagged tickets when undefined. */
  ticketKeys: TicketKeyRing | undefined;
  /** ReadStream's request deserializer, for CMD descriptors: the same validation. */
  deserializeRequest: RequestDeserializer;
  /** The fleet's locations, named by every endpoint (locations.ts); none: this service. */
  locations: readonly string[];
}

/** Namespaces ListFlights takes: `tenant/namespace`, as Pulsar names them. */
const namespacePattern = /^[\w.=:-]+\/[\w.=:-]+$/;
/** Topics whose schemas ListFlights reads at once. */
const listConcurrency = 8;

type ServiceMethods = Record<string, grpc.MethodDefinition<unknown, unknown>>;

/** A call's work, as the caller (`deps`), aborted with the call. */
type Run<T> = (deps: StreamDeps, signal: AbortSignal) => Promise<T>;

/** Adds FlightService to `server`, serving its calls through `path`. */
export function addFlightService(
  server: grpc.Server,
  definition: protoLoader.PackageDefinition,
  path: ServePath,
  options: FlightServiceOptions,
): void {
  const methods = definition[flightServiceName] as unknown as ServiceMethods;
  const service = { ...methods };
  // DoGet's responses are serialized by responses.ts, as ReadStream's (the same wire).
  const doGet = methods.DoGet;
  if (doGet) {
    service.DoGet = {
      ...doGet,
      // Bytes that are no Ticket reach the handler as an empty ticket: INVALID_ARGUMENT,
      // the caller's mistake, where grpc-js would answer INTERNAL.
      requestDeserialize: (bytes) => {
        try {
          return doGet.requestDeserialize(bytes);
        } catch {
          return {};
        }
      },
      responseSerialize: (response) => serializeResponse(response as Response),
    };
  }
  const handlers = flightHandlers(path, options, flightCodecs(methods));
  server.addService(service, handlers);
}

/** Flight messages as bytes, for actions that carry them (pyarrow's serialize/deserialize). */
interface FlightCodecs {
  descriptor(bytes: Buffer): FlightDescriptor__Output;
  info(info: FlightInfo): Buffer;
  next(descriptor: FlightDescriptor): Buffer;
}

/** The codecs of GetFlightInfo's request (FlightDescriptor) and response (FlightInfo). */
function flightCodecs(methods: ServiceMethods): FlightCodecs {
  const getFlightInfo = methods.GetFlightInfo;
  if (!getFlightInfo) throw new Error(`${flightServiceName} has no GetFlightInfo`);
  return {
    descriptor: (bytes) => {
      try {
        return getFlightInfo.requestDeserialize(bytes) as FlightDescriptor__Output;
      } catch (error) {
        throw new SeamError(
          'INVALID_ARGUMENT',
          'the body is not a serialized FlightDescriptor (pyarrow: descriptor.serialize())',
          { cause: error },
        );
      }
    },
    info: (info) => getFlightInfo.responseSerialize(info),
    next: (descriptor) => getFlightInfo.requestSerialize(descriptor),
  };
}

function flightHandlers(
  path: ServePath,
  options: FlightServiceOptions,
  codecs: FlightCodecs,
): grpc.UntypedServiceImplementation {
  const { deserializeRequest } = options;
  /** Sends a unary answer, or its status. */
  const unary = <T>(
    method: string,
    call: grpc.ServerUnaryCall<FlightDescriptor__Output, T>,
    callback: grpc.sendUnaryData<T>,
    run: Run<T>,
  ) => {
    void path.answer(method, call, run, flightWire).then((result) => {
      if (result.ok) callback(null, result.value);
      else callback(result.status);
    });
  };
  /** Streams a listing's messages, or its status. */
  const listing = <Req, T>(
    method: string,
    call: grpc.ServerWritableStream<Req, T>,
    run: Run<T[]>,
  ) => {
    void path.answer(method, call, run, flightWire).then((result) => {
      if (!result.ok) {
        call.emit('error', result.status);
        return;
      }
      for (const message of result.value) call.write(message);
      call.end();
    });
  };
  /** A poll of `descriptor` as the caller (PollFlightInfo and the seam.PollFlightInfo action). */
  const poll: (
    deps: StreamDeps,
    descriptor: FlightDescriptor__Output,
    signal: AbortSignal,
  ) => Promise<PollInfo> = async (deps, descriptor, signal) => {
    const request = pollRequest(descriptor, deserializeRequest);
    const flightPoll = await pollFlight(deps, request, signal);
    const answer = pollInfo(descriptor, flightPoll, options.ticketKeys);
    if (!answer.info) return answer;
    return {
      ...answer,
      info: withLocations(answer.info, flightPoll.plan.info.topic, options.locations),
    };
  };
  const actionContext: ActionContext = {
    poll: async (deps, body, signal) => {
      const descriptor = codecs.descriptor(body);
      const answer = await poll(deps, descriptor, signal);
      const results = [codecs.info(answer.info ?? {})];
      if (answer.flight_descriptor) results.push(codecs.next(answer.flight_descriptor));
      return results;
    },
    plan: (deps, descriptor, signal) =>
      planFlight(deps, descriptorRequest(descriptor, deserializeRequest), signal),
  };
  const unimplemented = (
    call: grpc.ServerDuplexStream<unknown, unknown> | grpc.ServerUnaryCall<unknown, unknown>,
    message: string,
    callback?: grpc.sendUnaryData<unknown>,
  ) => {
    const status = { code: grpc.status.UNIMPLEMENTED, details: message };
    if (callback) callback(status);
    else call.emit('error', status);
  };

  return {
    Handshake: (call: grpc.ServerDuplexStream<HandshakeRequest__Output, HandshakeResponse>) => {
      const header = call.metadata.get('authorization').map(String)[0];
      if (header !== undefined && /^\s*basic\s/i.test(header)) {
        call.emit(
          'error',
          flightStatus(
            new SeamError(
              'UNAUTHENTICATED',
              'Seam takes Pulsar tokens, not user names and passwords: send "authorization: Bearer <token>" on every call',
            ),
            undefined,
          ),
        );
        return;
      }
      // Requests wait unread (the stream stays paused) until the caller is authenticated.
      void path
        .answer('Handshake', call, async () => header, flightWire)
        .then((result) => {
          if (!result.ok) {
            call.emit('error', result.status);
            return;
          }
          // Flight clients take the token to send on later calls from this header: the same
          // bearer, since Seam keeps no sessions.
          const metadata = new grpc.Metadata();
          if (result.value !== undefined) metadata.set('authorization', result.value);
          call.sendMetadata(metadata);
          call.on('data', (request: HandshakeRequest__Output) =>
            call.write({
              protocol_version: request.protocol_version ?? 0,
              payload: request.payload ?? Buffer.alloc(0),
            }),
          );
          call.on('end', () => call.end());
        });
    },

    ListFlights: (call: grpc.ServerWritableStream<Criteria__Output, FlightInfo>) =>
      listing('ListFlights', call, async (deps) => {
        const expression = (call.request.expression ?? Buffer.alloc(0)).toString('utf8').trim();
        const namespace = expression === '' ? 'public/default' : expression;
        if (!namespacePattern.test(namespace)) {
          throw new SeamError(
            'INVALID_ARGUMENT',
            `the criteria is a namespace, tenant/namespace (e.g. public/default; empty means public/default), not ${JSON.stringify(expression)}`,
          );
        }
        if (!deps.admin) {
          throw new SeamError(
            'FAILED_PRECONDITION',
            'ListFlights needs the admin API: start the gateway with --pulsar-admin-url',
          );
        }
        const topics = await deps.admin.topics(namespace);
        const infos: FlightInfo[] = [];
        for (let i = 0; i < topics.length; i += listConcurrency) {
          const chunk = topics.slice(i, i + listConcurrency);
          const schemas = await Promise.all(
            chunk.map((topic) => announcedSchema(deps.client, topic, [])),
          );
          chunk.forEach((topic, j) => {
            const schema = schemas[j];
            if (schema) infos.push(listedFlight(topic, schema));
          });
        }
        return infos;
      }),

    GetFlightInfo: (
      call: grpc.ServerUnaryCall<FlightDescriptor__Output, FlightInfo>,
      callback: grpc.sendUnaryData<FlightInfo>,
    ) =>
      unary('GetFlightInfo', call, callback, async (deps, signal) => {
        const request = descriptorRequest(call.request, deserializeRequest);
        const plan = await planFlight(deps, request, signal);
        const info = plannedFlight(call.request, plan, options.ticketKeys);
        return withLocations(info, plan.info.topic, options.locations);
      }),

    DoGet: (call: grpc.ServerWritableStream<Ticket__Output, Response>) =>
      void path.stream(
        call,
        async (deps, signal) => {
          const range = decodeTicket(call.request.ticket ?? Buffer.alloc(0), options.ticketKeys);
          await checkRange(deps, range, signal);
          const request = rangeRequest(range);
          return { request, events: rangeEvents(readStream(deps, request, signal), range) };
        },
        flightWire,
      ),

    GetSchema: (
      call: grpc.ServerUnaryCall<FlightDescriptor__Output, SchemaResult>,
      callback: grpc.sendUnaryData<SchemaResult>,
    ) =>
      unary('GetSchema', call, callback, async (deps) => {
        const request = descriptorRequest(call.request, deserializeRequest);
        const schema = await announcedSchema(deps.client, request.topic, request.columns);
        return { schema: flightSchemaBytes(schema) } satisfies SchemaResult;
      }),

    PollFlightInfo: (
      call: grpc.ServerUnaryCall<FlightDescriptor__Output, PollInfo>,
      callback: grpc.sendUnaryData<PollInfo>,
    ) =>
      unary('PollFlightInfo', call, callback, (deps, signal) => poll(deps, call.request, signal)),

    DoPut: (call: grpc.ServerDuplexStream<unknown, unknown>) => unimplemented(call, readOnly),
    DoExchange: (call: grpc.ServerDuplexStream<unknown, unknown>) => unimplemented(call, readOnly),

    ListActions: (call: grpc.ServerWritableStream<unknown, ActionType>) =>
      listing('ListActions', call, async () => actionTypes()),

    DoAction: (call: grpc.ServerWritableStream<Action__Output, Result>) =>
      listing('DoAction', call, async (deps, signal) => {
        const action = {
          type: call.request.type ?? '',
          body: call.request.body ?? Buffer.alloc(0),
        };
        const bodies = await runAction(deps, action, actionContext, signal);
        return bodies.map((body) => ({ body }));
      }),
  };
}
