/** Pulsar topic names: `persistent://tenant/namespace/name`, short forms, partitions. */

/** A topic name that Pulsar would refuse. */
export class InvalidTopicNameError extends Error {
  override name = 'InvalidTopicNameError';
}

/** A parsed, fully qualified topic name. */
export interface TopicName {
  /** `persistent` or `non-persistent`. */
  domain: 'persistent' | 'non-persistent';
  tenant: string;
  namespace: string;
  /** The local name, with `-partition-N` when it names one partition. */
  local: string;
  /** `domain://tenant/namespace/local`. */
  full: string;
  /** The partition index when `local` ends in `-partition-N`, else -1. */
  partition: number;
}

const partitionSuffix = /-partition-(\d+)$/;
// Pulsar's own rule for tenant, namespace and topic characters (NamedEntity + topic names).
const namePart = /^[-=:.\w]+$/;

/**
 * Parses `persistent://tenant/ns/name`, `tenant/ns/name` or a short `name` (which means
 * `persistent://public/default/name`, as in every Pulsar client).
 */
export function parseTopicName(input: string): TopicName {
  const topic = input.trim();
  if (topic.length === 0) throw new InvalidTopicNameError('the topic name is empty');
  let domain: TopicName['domain'] = 'persistent';
  let rest = topic;
  const scheme = /^([a-z-]+):\/\/(.*)$/.exec(topic);
  if (scheme) {
    if (scheme[1] !== 'persistent' && scheme[1] !== 'non-persistent') {
      throw new InvalidTopicNameError(
        `topic "${input}" has domain "${scheme[1]}": use persistent:// or non-persistent://`,
      );
    }
    domain = scheme[1];
    rest = scheme[2] ?? '';
  }
  const parts = rest.split('/');
  let tenant = 'public';
  let namespace = 'default';
  let local: string;
  if (parts.length === 1 && !scheme) {
    local = parts[0] ?? '';
  } else if (parts.length === 3) {
    [tenant, namespace, local] = parts as [string, string, string];
  } else {
    throw new InvalidTopicNameError(
      `topic "${input}" is not "persistent://tenant/namespace/topic", "tenant/namespace/topic" or a short name`,
    );
  }
  for (const [what, value] of [
    ['tenant', tenant],
    ['namespace', namespace],
    ['topic', local],
  ] as const) {
    if (!namePart.test(value)) {
      throw new InvalidTopicNameError(
        `topic "${input}": the ${what} "${value}" may only contain letters, digits and - _ = : .`,
      );
    }
    // URL normalisation turns `.` and `..` path segments into another admin path (another
    // tenant's or namespace's), so such a part would name one topic to the binary protocol
    // and another to the admin API.
    if (value === '.' || value === '..') {
      throw new InvalidTopicNameError(`topic "${input}": the ${what} may not be "${value}"`);
    }
  }
  const match = partitionSuffix.exec(local);
  return {
    domain,
    tenant,
    namespace,
    local,
    full: `${domain}://${tenant}/${namespace}/${local}`,
    partition: match ? Number(match[1]) : -1,
  };
}

/** The name of partition `index` of a partitioned topic. */
export function partitionTopic(topic: string, index: number): string {
  return `${topic}-partition-${index}`;
}
