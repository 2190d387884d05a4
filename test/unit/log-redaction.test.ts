/**
 * Log lines: secrets redacted by key at any depth (fields and bindings), and refused
 * streams logged at most once per second per status, with a count of the rest.
 */
import test from 'ava';
import { GatewayTelemetry } from '../../server/grpc/observe.ts';
import { createLogger } from '../../server/telemetry/log.ts';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger('info', {
    write: (line: string) => {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    },
  });
  return { lines, logger };
}

test('secrets are redacted by key at any depth of the fields, and in child bindings', (t) => {
  const { lines, logger } = capture();
  const error = Object.assign(new Error('refused'), {
    request: { headers: { Authorization: 'Bearer s3' } },
  });
  logger
    .child({ auth: { token: 's1' } })
    .info({ a: { b: { c: { password: 's2', list: [{ key: 's4' }] } } }, err: error }, 'line');
  const text = JSON.stringify(lines);
  for (const secret of ['s1', 's2', 'Bearer s3', 's4'])
    t.false(text.includes(`"${secret}"`), secret);
  t.true(text.includes('[redacted]'));
  t.true(text.includes('refused'), 'the error message is kept');
});

test('a cycle or a very deep field cannot make a line unbounded', (t) => {
  const { lines, logger } = capture();
  const cycle: Record<string, unknown> = { name: 'x' };
  cycle.self = cycle;
  let deep: Record<string, unknown> = { token: 'deep-secret' };
  for (let i = 0; i < 50; i++) deep = { next: deep };
  logger.info({ cycle, deep }, 'line');
  t.is(lines.length, 1);
  t.false(JSON.stringify(lines).includes('deep-secret'));
});

test('refused streams: one line per status per second, then a count of those not written', async (t) => {
  const { lines, logger } = capture();
  const telemetry = new GatewayTelemetry(logger, () => 0);
  try {
    for (let i = 0; i < 50; i++)
      telemetry.refused('UNAUTHENTICATED', `peer-${i}`, 'no credentials');
    telemetry.refused('RESOURCE_EXHAUSTED', 'peer', 'limit');
    t.is(lines.length, 2);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    telemetry.refused('UNAUTHENTICATED', 'peer-late', 'no credentials');
    t.is(lines.length, 3);
    t.is(lines[2]?.suppressed, 49);
  } finally {
    telemetry.close();
  }
});
