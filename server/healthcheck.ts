#!/usr/bin/env node
/**
 * The container's health check: asks the gateway's standard gRPC health service
 * (`grpc.health.v1.Health/Check`) on SEAM_PORT and exits 0 when it is SERVING, 1 otherwise
 * (also while it drains during shutdown).
 */
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { loadConfig } from './config.ts';

const config = loadConfig({});
const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
// Over TLS the probe checks liveness, not identity: it dials loopback, where the
// certificate's names rarely match, and sends no token. Under mTLS it presents the
// gateway's own certificate, which passes when the client CA signed it too (one CA).
const identity =
  config.tlsClientCa && config.tlsKey
    ? [readFileSync(config.tlsKey), readFileSync(config.tlsCert as string)]
    : [null, null];
const credentials = config.tlsCert
  ? grpc.credentials.createSsl(null, identity[0], identity[1], { rejectUnauthorized: false })
  : grpc.credentials.createInsecure();
const client = new grpc.Client(`${host}:${config.port}`, credentials);
// HealthCheckRequest { service = "" } is empty on the wire; the answer is
// HealthCheckResponse { status = 1 (SERVING) }: field 1, varint 1.
const serving = Buffer.from([0x08, 0x01]);
client.makeUnaryRequest(
  '/grpc.health.v1.Health/Check',
  (request: Buffer) => request,
  (response: Buffer) => response,
  Buffer.alloc(0),
  { deadline: Date.now() + 3000 },
  (error, response) => {
    client.close();
    const ok = !error && response?.equals(serving);
    process.stdout.write(
      ok ? 'SERVING\n' : `not serving: ${error?.details ?? response?.toString('hex')}\n`,
    );
    process.exit(ok ? 0 : 1);
  },
);
