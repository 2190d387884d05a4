/**
 * What Flight clients are told about a read before they fetch it: its Arrow schema in
 * Flight's byte form, and FlightInfo messages.
 */
import type * as arrow from 'apache-arrow';
import { StreamSchema } from '../arrow/batch-builder.ts';
import { schemaMessage } from '../arrow/flight.ts';
import { topicSchema } from '../arrow/topic-schema.ts';
import { encodeEndpointInfo, type FlightPlan } from '../core/flight-plan.ts';
import type { CoreClient } from '../core/plan.ts';
import { encodeTicket, type TicketKeyRing } from '../core/ticket.ts';
import type { FlightDescriptor__Output } from '../grpc/generated/arrow/flight/protocol/FlightDescriptor.ts';
import type { FlightInfo } from '../grpc/generated/arrow/flight/protocol/FlightInfo.ts';
import { encodeStreamInfo } from '../grpc/responses.ts';
import { parseTopicName } from '../pulsar/topic-name.ts';

const continuation = 0xffffffff;

/**
 * A schema as FlightInfo.schema and SchemaResult.schema carry it: the IPC continuation
 * marker, the length, then the Schema message (already padded to 8 bytes). pyarrow and Arrow
 * Java refuse the bare flatbuffer.
 */
export function flightSchemaBytes(schema: arrow.Schema): Buffer {
  const { header } = schemaMessage(schema);
  const prefix = Buffer.alloc(8);
  prefix.writeUInt32LE(continuation, 0);
  prefix.writeInt32LE(header.byteLength, 4);
  return Buffer.concat([prefix, header]);
}

/**
 * The Arrow schema a read of `topic` with `columns` announces: built from the topic's
 * latest Pulsar schema as a stream opening now does, without opening readers or listing
 * ledgers. A partition's schema is its topic's.
 */
export async function announcedSchema(
  client: CoreClient,
  topic: string,
  columns: readonly string[],
): Promise<arrow.Schema> {
  const name = parseTopicName(topic);
  const schemaTopic = name.partition >= 0 ? name.full.replace(/-partition-\d+$/, '') : name.full;
  const schema = await client.schema(schemaTopic);
  return new StreamSchema(topicSchema(schema?.schema), columns).schema;
}

/**
 * The FlightInfo of a topic as ListFlights lists it: a PATH descriptor and the schema,
 * with no endpoints (GetFlightInfo plans them) and unknown totals.
 */
export function listedFlight(topic: string, schema: arrow.Schema): FlightInfo {
  return {
    schema: flightSchemaBytes(schema),
    flight_descriptor: { type: 'PATH', path: [topic] },
    endpoint: [],
    total_records: -1,
    total_bytes: -1,
    ordered: false,
  };
}

/**
 * The FlightInfo of a planned read: its schema, one endpoint per range with its ticket and
 * its EndpointInfo, `ordered` when one partition makes the endpoints' concatenation Pulsar
 * order, `total_records` -1 (ledgers count entries, not messages: a batch is one entry),
 * `total_bytes` the ranges' stored bytes, and the StreamInfo ReadStream sends with its schema.
 * No locations: the endpoints are redeemed at this service (Flight's "same service"), unless
 * the gateway names its fleet (locations.ts `withLocations`).
 */
export function plannedFlight(
  descriptor: FlightDescriptor__Output,
  plan: FlightPlan,
  keys: TicketKeyRing | undefined,
): FlightInfo {
  return {
    schema: flightSchemaBytes(plan.schema),
    flight_descriptor: descriptor,
    endpoint: plan.endpoints.map((endpoint) => ({
      ticket: { ticket: encodeTicket(endpoint.range, keys) },
      location: [],
      app_metadata: encodeEndpointInfo(endpoint),
    })),
    total_records: -1,
    total_bytes: plan.storedBytes,
    ordered: plan.info.partitions.length === 1,
    app_metadata: encodeStreamInfo(plan.info),
  };
}
