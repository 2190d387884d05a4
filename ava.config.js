// Two suites: the main one runs files in parallel; the disruptive one (tests that restart
// Pulsar) runs alone, one file at a time, after it. scripts/test.sh runs both.
const disruptive = process.env.SEAM_TEST_SUITE === 'disruptive';

export default {
  extensions: { ts: 'module' },
  files: disruptive
    ? ['test/disruptive/**/*.test.ts']
    : ['test/**/*.test.ts', '!test/disruptive/**'],
  concurrency: disruptive ? 1 : 2,
  timeout: '3m',
  workerThreads: false,
};
