/**
 * Property-based tests of request handling: random requests, random bytes as message ids
 * and resume tokens, and undecodable request messages. Each gets INVALID_ARGUMENT (or, for a
 * well-formed request on a topic that does not exist, NOT_FOUND) and the gateway keeps
 * serving. SEAM_FUZZ_RUNS sets the in-process cases per property (default 1500).
 */
import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import fc from 'fast-check';
import { apiType } from '../server/api.ts';
import { SeamError } from '../server/core/errors.ts';
import { decodeResumeToken } from '../server/core/resume-token.ts';
import type { ReadStreamRequest__Output } from '../server/grpc/generated/seam/v1/ReadStreamRequest.ts';
import { toReadRequest } from '../server/grpc/request.ts';
import { InvalidMessageIdError, MessageId } from '../server/pulsar/message-id.ts';
import { resumeToken, wireRequest } from './support/fuzz.ts';
import { collect, useGateway } from './support/gateway.ts';
import { freshTopic, produce } from './support/pulsar.ts';

const runs = Number(process.env.SEAM_FUZZ_RUNS ?? 1500);
const gateway = useGateway(test);
const ReadStreamRequest = apiType('ReadStreamRequest');
const tokenTopic = 'persistent://public/default/t';

test('random requests validate or get INVALID_ARGUMENT, nothing else', (t) => {
  let valid = 0;
  fc.assert(
    fc.property(wireRequest, (wire) => {
      try {
        toReadRequest(wire as unknown as ReadStreamRequest__Output);
        valid++;
      } catch (error) {
        if (!(error instanceof SeamError) || error.code !== 'INVALID_ARGUMENT') throw error;
      }
    }),
    { numRuns: runs },
  );
  t.log(`${valid} of ${runs} random requests were valid`);
  t.true(valid > 0 && valid < runs);
});

test('random bytes as message ids deserialize or fail typed', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
      try {
        MessageId.deserialize(bytes);
      } catch (error) {
        if (!(error instanceof InvalidMessageIdError)) throw error;
      }
    }),
    { numRuns: runs },
  );
  t.pass();
});

test('random resume tokens, damaged or well-enveloped, get INVALID_ARGUMENT', (t) => {
  fc.assert(
    fc.property(resumeToken(tokenTopic), (bytes) => {
      try {
        decodeResumeToken(tokenTopic, bytes);
      } catch (error) {
        if (!(error instanceof SeamError) || error.code !== 'INVALID_ARGUMENT') throw error;
      }
    }),
    { numRuns: runs },
  );
  t.pass();
});

test('through the gateway: random and undecodable requests get a clear status; it keeps serving', async (t) => {
  const allowed = new Set([grpc.status.INVALID_ARGUMENT, grpc.status.NOT_FOUND]);
  const samples = fc.sample(wireRequest, { numRuns: 40, seed: 7 });
  for (const wire of samples) {
    // Protobuf cannot carry every random value (e.g. a string in a number field): skip those.
    let message: Record<string, unknown>;
    try {
      const { start, end, ...fields } = wire as Record<string, unknown>;
      message = ReadStreamRequest.toObject(
        ReadStreamRequest.decode(
          ReadStreamRequest.encode(ReadStreamRequest.fromObject(fields)).finish(),
        ),
      );
      if (typeof start === 'string' && start !== 'earliest' && start in fields)
        message[start] = (fields as never)[start];
      if (typeof end === 'string' && end !== 'follow' && end in fields)
        message[end] = (fields as never)[end];
    } catch {
      continue;
    }
    const result = await collect(gateway, message, { timeoutMs: 20_000 });
    t.true(
      allowed.has(result.status.code),
      `${JSON.stringify(message).slice(0, 200)} → ${result.status.code} ${result.status.details}`,
    );
    t.true(result.status.details.length > 0);
  }

  // Bytes that are not a ReadStreamRequest at all.
  for (const bytes of fc.sample(fc.uint8Array({ minLength: 1, maxLength: 200 }), {
    numRuns: 20,
    seed: 11,
  })) {
    const status = await new Promise<grpc.StatusObject>((resolve) => {
      const call = gateway.client.makeServerStreamRequest(
        '/seam.v1.SeamService/ReadStream',
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from(bytes),
      );
      call.on('data', () => {});
      call.on('error', () => {});
      call.on('status', resolve);
    });
    // Most random bytes are no protobuf; some decode by chance into a request with odd fields.
    t.true(allowed.has(status.code), `random request bytes → ${status.code} ${status.details}`);
  }

  // Still serving: a real read works.
  const topic = freshTopic('after-fuzz');
  await produce(topic, { count: 10 });
  const read = await collect(gateway, { topic, at_open: {} });
  t.is(read.status.code, 0);
  t.is(
    read.batches.reduce((n, b) => n + b.rows.length, 0),
    10,
  );
});
