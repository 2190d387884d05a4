/**
 * The documentation holds together: every relative link reaches a file and heading, no page
 * runs a TypeScript file with a bare `node` (a system Node older than 24 cannot), the
 * README stays short, and CONTRIBUTING.md's Layout names every folder as it is.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import test from 'ava';
import { anchorsOf, docPages, readPage, root, testedCommands } from '../support/docs.ts';

/** A page's text outside fenced code blocks, where links are links. */
const prose = (text: string) => text.replace(/^```[\s\S]*?^```$/gm, '');

test('every relative link reaches a file, and its heading when it names one', (t) => {
  let links = 0;
  for (const page of docPages()) {
    for (const [, target = ''] of prose(readPage(page)).matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target)) continue;
      links++;
      const [path = '', anchor] = target.split('#');
      const file = path ? join(root, dirname(page), path) : join(root, page);
      if (!existsSync(file)) {
        t.fail(`${page}: ${target} does not exist`);
        continue;
      }
      if (anchor && file.endsWith('.md')) {
        const anchors = anchorsOf(readPage(relative(root, file)));
        t.true(anchors.has(anchor), `${page}: ${target} names no heading of its page`);
      }
    }
  }
  t.true(links > 20, `links found: ${links}`);
});

test('no page runs a TypeScript file with a bare node: npx node or npx seam runs Node 24', (t) => {
  for (const page of docPages()) {
    for (const [line] of readPage(page).matchAll(/^.*$/gm)) {
      const bare = /(?<!npx )(?<![\w-])node (?:--\S+ )*[\w./-]+\.ts\b/.exec(line);
      t.is(bare, null, `${page}: ${line.trim()}`);
    }
  }
});

test('the docs mark command lines that test/docs-commands.test.ts runs', (t) => {
  const commands = testedCommands();
  t.true(commands.some((c) => c.page === 'README.md'));
  t.true(commands.some((c) => c.command.startsWith('npx seam read')));
  t.true(commands.some((c) => c.command.startsWith('npx seam serve')));
});

test('the README stays short: under 15 KB', (t) => {
  const bytes = Buffer.byteLength(readPage('README.md'));
  t.true(bytes < 15 * 1024, `README.md is ${bytes} B`);
});

test("CONTRIBUTING.md's Layout names every folder, and every path it names exists", (t) => {
  const text = readPage('CONTRIBUTING.md');
  const section = text.slice(text.indexOf('## Layout'));
  const named = [...section.matchAll(/^\| (.+?) \|/gm)]
    .flatMap(([, cell = '']) => [...cell.matchAll(/`([^`]+)`/g)].map(([, path = '']) => path))
    .map((path) => path.replace(/\/$/, ''));
  t.true(named.length > 10);
  for (const path of named) t.true(existsSync(join(root, path)), `Layout names ${path}: missing`);
  const folders = (dir: string) =>
    readdirSync(join(root, dir)).filter(
      (name) =>
        statSync(join(root, dir, name)).isDirectory() &&
        !['node_modules', 'generated', '__pycache__'].includes(name) &&
        !name.endsWith('.egg-info') &&
        (!name.startsWith('.') || name === '.ci'),
    );
  const expected = [
    ...folders('.'),
    ...folders('server').map((name) => `server/${name}`),
    ...folders('clients').map((name) => `clients/${name}`),
    ...readdirSync(join(root, 'server'))
      .filter((name) => name.endsWith('.ts'))
      .map((name) => `server/${name}`),
  ];
  for (const path of expected) {
    t.true(
      named.some((n) => n === path || path.startsWith(`${n}/`) || n.startsWith(`${path}/`)),
      `Layout does not name ${path}`,
    );
  }
});
