// Three suites. unit: broker-free tests (test/unit/), no Java, Pulsar or Python venv, run
// first; main: every test against the real standalone, files in parallel; disruptive:
// tests that restart Pulsar, alone, one file at a time, after it. scripts/test.sh runs all
// three in that order. Unset, ava runs unit and main together (`npx ava test/x.test.ts`).
const suite = process.env.SEAM_TEST_SUITE;

const files = {
  unit: ['test/unit/**/*.test.ts'],
  main: ['test/**/*.test.ts', '!test/unit/**', '!test/disruptive/**'],
  disruptive: ['test/disruptive/**/*.test.ts'],
};

export default {
  extensions: { ts: 'module' },
  files: files[suite] ?? ['test/**/*.test.ts', '!test/disruptive/**'],
  concurrency: suite === 'disruptive' ? 1 : 2,
  timeout: '3m',
  workerThreads: false,
};
