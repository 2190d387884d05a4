/**
 * The committed corpus of real broker bytes (test/fixtures/, described in its README.md):
 * what a broker sent one of Seam's reader connections while it read entries the official
 * producers wrote, and what the official client read from the same topic. Loaded without a
 * broker; test/support/capture-fixtures.ts captures it again.
 */
import { readFileSync } from 'node:fs';

/** A message as the official client read it from the captured topic. */
export interface FixtureMessage {
  ledger: number;
  entry: number;
  /** -1 when the message was not batched. */
  batch_index: number;
  key: string | null;
  properties: Record<string, string>;
  /** The payload (the whole message for a chunked one), base64. */
  value_b64: string;
}

/** One captured stream and what it holds. */
export interface Fixture {
  /** File name in test/fixtures/ (`<name>.bin`). */
  file: string;
  description: string;
  /** How the official producer wrote the topic. */
  producer: Record<string, unknown>;
  /** The topic's AVRO schema definition, if it has one. */
  schema?: unknown;
  /** What the official client read, in order. */
  messages: FixtureMessage[];
  /** The bytes of the stream. */
  bytes: Buffer;
}

const folder = new URL('../fixtures/', import.meta.url);

/** Every fixture of the corpus, in corpus.json's order. */
export function loadFixtures(): Fixture[] {
  const index = JSON.parse(readFileSync(new URL('corpus.json', folder), 'utf8')) as {
    fixtures: Omit<Fixture, 'bytes'>[];
  };
  return index.fixtures.map((f) => ({ ...f, bytes: readFileSync(new URL(f.file, folder)) }));
}
