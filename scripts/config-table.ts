/**
 * npx tsx scripts/config-table.ts — writes the README's settings table from the config table
 * (`schemas/config.ts`), between the `config-table:start` / `config-table:end` marker comments, so the
 * README never documents a variable, a default or a process that the code does not have.
 * `tests/unit/config/config-table.test.ts` fails when the two drift apart.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { format, resolveConfig } from 'prettier';
import { type ConfigName, type Setting, configNames, configTable } from '../schemas/config.js';

export const README = fileURLToPath(new URL('../README.md', import.meta.url));
export const START = '<!-- config-table:start -->';
export const END = '<!-- config-table:end -->';

const cell = (text: string) => text.replace(/\|/g, '\\|');

function defaultOf(s: Setting): string {
  if (s.shownDefault !== undefined) return s.shownDefault;
  if (s.default === undefined) return '—';
  return `\`${typeof s.default === 'string' ? s.default : JSON.stringify(s.default)}\``;
}

function rowOf(name: ConfigName): string {
  const s: Setting = configTable[name];
  const doc =
    s.secret === true
      ? `${s.doc} Secret: never printed.`
      : s.secret
        ? `${s.doc} Printed with its password masked.`
        : s.doc;
  return `| \`${name}\` | ${cell(defaultOf(s))} | ${s.processes.join(', ')} | ${cell(doc)} |`;
}

/** The markdown table, one row per variable in table order (unformatted: prettier aligns it). */
export function renderConfigTable(): string {
  return [
    '| variable | default | read by | what it sets |',
    '| --- | --- | --- | --- |',
    ...configNames.map(rowOf),
  ].join('\n');
}

/** `readme` with the table between the markers replaced by {@link renderConfigTable}, prettier-formatted. */
export async function withConfigTable(readme: string): Promise<string> {
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start === -1 || end < start) throw new Error(`README.md has no ${START} … ${END} section`);
  const text = `${readme.slice(0, start + START.length)}\n\n${renderConfigTable()}\n\n${readme.slice(end)}`;
  return format(text, { ...(await resolveConfig(README)), filepath: README });
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  await writeFile(README, await withConfigTable(await readFile(README, 'utf8')));
}
