import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { SpecFileInvalid } from './errors/spec-file-invalid.js';

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Reads a job spec file (or a schedule's, `what` naming it): `.json` as JSON, anything else as YAML (which
 * JSON also is); `-` reads stdin. Returns the top-level object unchecked — `parseJobSpec` (`parseSchedule`)
 * checks its fields.
 *
 * @throws SpecFileInvalid when the file cannot be read, does not parse, or is not an object.
 */
export async function readSpecFile(
  path: string,
  stdin: NodeJS.ReadableStream = process.stdin,
  what = 'a job spec',
): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = path === '-' ? await readAll(stdin) : await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    throw new SpecFileInvalid(path, code === 'ENOENT' ? 'no such file' : (error as Error).message, {
      cause: error,
    });
  }
  let value: unknown;
  try {
    value = extname(path).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new SpecFileInvalid(path, (error as Error).message.split('\n')[0] ?? 'does not parse', {
      cause: error,
    });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new SpecFileInvalid(path, `expected ${what} object at the top level`);
  return value as Record<string, unknown>;
}
