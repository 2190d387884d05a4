/**
 * The documentation as the tests read it: the pages, their links and headings, and the
 * command lines they mark as tested (a fenced block opened with ```sh tested).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The repository's root folder, with a trailing slash. */
export const root = fileURLToPath(new URL('../..', import.meta.url));

/** Every page a reader is sent to, relative to the root. */
export function docPages(): string[] {
  const docs = readdirSync(`${root}docs`)
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`);
  return [
    'README.md',
    'CONTRIBUTING.md',
    ...docs,
    'bench/README.md',
    'bench/PROFILE.md',
    'clients/ts/README.md',
  ].filter((page) => existsSync(`${root}${page}`));
}

/** A page's text. */
export function readPage(page: string): string {
  return readFileSync(`${root}${page}`, 'utf8');
}

/** One command line a page shows in a tested block. */
export interface DocumentedCommand {
  page: string;
  /** The command as a shell runs it: continuations joined, the trailing comment dropped. */
  command: string;
}

/** The lines of every ```sh tested block, in page order. */
export function testedCommands(): DocumentedCommand[] {
  const commands: DocumentedCommand[] = [];
  for (const page of docPages()) {
    const blocks = readPage(page).matchAll(/^```sh tested\n([\s\S]*?)^```$/gm);
    for (const [, body = ''] of blocks) {
      for (const line of body.replaceAll('\\\n', ' ').split('\n')) {
        const command = line.replace(/\s+#.*$/, '').trim();
        if (command) commands.push({ page, command });
      }
    }
  }
  return commands;
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens. */
export function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replaceAll(' ', '-');
}

/** The anchors of a page's headings. */
export function anchorsOf(text: string): Set<string> {
  const inCode = /^```[\s\S]*?^```$/gm;
  const headings = text.replace(inCode, '').matchAll(/^#{1,6} (.+)$/gm);
  return new Set([...headings].map(([, heading = '']) => anchorOf(heading)));
}
