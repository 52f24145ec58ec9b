import { type FlagsConfig, parseNumber } from './command.js';
import { UsageError } from './errors/usage-error.js';

/** `quiver submit` flags that write job spec fields; each overrides the same field of a spec file. */
export const specFlags = {
  name: { type: 'string' },
  input: { type: 'string' },
  format: { type: 'string' },
  glob: { type: 'string' },
  'no-header': { type: 'boolean' },
  model: { type: 'string' },
  sha256: { type: 'string' },
  'model-input': { type: 'string' },
  columns: { type: 'string' },
  regex: { type: 'string' },
  'list-column': { type: 'string' },
  nulls: { type: 'string' },
  'model-output': { type: 'string' },
  'score-column': { type: 'string' },
  output: { type: 'string' },
  'output-format': { type: 'string' },
  passthrough: { type: 'string' },
  'chunk-rows': { type: 'string' },
  'batch-rows': { type: 'string' },
  'on-invalid-row': { type: 'string' },
  'max-invalid-fraction': { type: 'string' },
  'webhook-url': { type: 'string' },
  'webhook-secret': { type: 'string' },
  priority: { type: 'string' },
  label: { type: 'string', multiple: true },
  challenger: { type: 'string', multiple: true },
  'challenger-output': { type: 'string' },
  'no-report': { type: 'boolean' },
  'quality-baseline': { type: 'string' },
  'max-null-fraction': { type: 'string' },
  'max-psi': { type: 'string' },
  'on-quality-violation': { type: 'string' },
} as const satisfies FlagsConfig;

/** The values of {@link specFlags} as `parseArgs` returns them. */
export type SpecFlagValues = {
  [K in keyof typeof specFlags]?: (typeof specFlags)[K] extends { multiple: true }
    ? string[]
    : (typeof specFlags)[K] extends { type: 'boolean' }
      ? boolean
      : string;
};

export const specFlagsHelp = `Spec fields from flags (each overrides the spec file's; without a file, --input, --format,
--model and --output make a complete spec):
  --name NAME                  name
  --input URI                  input.uri: s3://bucket/key, s3://bucket/prefix/, file:///path or a path
  --format F                   input.format: parquet, arrow, csv or jsonl
  --glob G                     input.glob: which objects under a prefix (e.g. 'dt=*/*.parquet')
  --no-header                  input.header=false: CSV files without a header line
  --model URI                  model.uri (.onnx)
  --sha256 HEX                 model.sha256: refuse the model unless its bytes hash to this
  --columns a,b,c              model.inputs.<input>.columns: the features, in order
  --regex RE                   model.inputs.<input>.columnsMatching: the columns whose names match
  --list-column C              model.inputs.<input>.listColumn: one list column holds the features
  --nulls fail|reject|fill:N   model.inputs.<input>.nulls (with one of the three above)
  --model-input NAME           the model input those feed (default "features")
  --score-column C             model.outputs.<output>.column: where the score goes
  --model-output NAME          the model output it takes (default "score")
  --output URI                 output.uri: results go to <uri>/<job id>/
  --output-format F            output.format: parquet (default), arrow, csv or jsonl
  --passthrough a,b            output.passthrough: input columns copied next to the scores ("*": all)
  --chunk-rows N               batch.chunkRows (default 500000)
  --batch-rows N|auto          batch.rows (default auto)
  --on-invalid-row fail|skip   errors.onInvalidRow
  --max-invalid-fraction X     errors.maxInvalidFraction (0–1)
  --webhook-url URL            webhook.url (with --webhook-secret whsec_…)
  --webhook-secret S           webhook.secret
  --priority N                 priority: 1 most urgent … 10 least (default 5)
  --label key=value            labels.key (repeatable)
  --challenger NAME=URI        challengers[]: another model scored on the same rows, its columns NAME.<column>
                               (repeatable, at most 4); it maps the features and outputs as the champion
                               does, unless the spec file's challenger of that name says otherwise
  --challenger-output F        output.challengers: columns (default, beside the champion's) or parts
  --no-report                  output.report=false: no _report.json (and no quality gates)
  --quality-baseline B         quality.baseline: a run report's URI, or previous (the schedule's last run)
  --max-psi X                  quality.maxPsi: the largest PSI a feature or score may drift by
  --max-null-fraction X        quality.maxNullFraction (0–1): the largest share of nulls in a feature
  --on-quality-violation F     quality.onViolation: fail (default) or warn`;

type SpecObject = Record<string, unknown>;

function isObject(value: unknown): value is SpecObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Sets `spec.<path>` to `value`, making the objects on the way (a non-object on the way is replaced). */
function setIn(spec: SpecObject, path: readonly string[], value: unknown): void {
  let at = spec;
  for (const key of path.slice(0, -1)) {
    const next = at[key];
    if (isObject(next)) {
      at = next;
    } else {
      const made: SpecObject = {};
      at[key] = made;
      at = made;
    }
  }
  at[path[path.length - 1]!] = value;
}

function getIn(spec: SpecObject, path: readonly string[]): unknown {
  let at: unknown = spec;
  for (const key of path) at = isObject(at) ? at[key] : undefined;
  return at;
}

/** `a, b,,c` → `['a', 'b', 'c']`. */
export function splitList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** `key=value` (or `key:value`): split at the first `=`, else the first `:`. */
export function parseLabel(flag: string, text: string): [key: string, value: string] {
  const at = text.includes('=') ? text.indexOf('=') : text.indexOf(':');
  if (at <= 0) throw new UsageError(`${flag}: expected key=value, got ${JSON.stringify(text)}`);
  return [text.slice(0, at), text.slice(at + 1)];
}

/** `fail`, `reject` or `fill:<number>` (also `fill=<number>`) → a null policy. */
export function parseNullPolicy(text: string): unknown {
  if (text === 'fail' || text === 'reject') return text;
  const fill = /^fill[:=](.+)$/.exec(text);
  if (fill?.[1] !== undefined) return { fill: parseNumber('--nulls', fill[1]) };
  throw new UsageError(`--nulls: expected fail, reject or fill:<number>, got ${JSON.stringify(text)}`);
}

/**
 * `--challenger NAME=URI`: the spec file's challenger of that name gets the model at URI (its pinned
 * `sha256` dropped, it named other bytes); a new one maps features and outputs as the champion does, read
 * after every champion flag is applied.
 */
function addChallenger(spec: SpecObject, flag: string): void {
  const at = flag.indexOf('=');
  if (at <= 0 || at === flag.length - 1)
    throw new UsageError(`--challenger: expected NAME=URI, got ${JSON.stringify(flag)}`);
  const [name, uri] = [flag.slice(0, at), flag.slice(at + 1)];
  const challengers = Array.isArray(spec.challengers) ? (spec.challengers as unknown[]) : [];
  spec.challengers = challengers;
  const existing = challengers.find((c): c is SpecObject => isObject(c) && c.name === name);
  if (existing !== undefined) {
    const model = isObject(existing.model) ? existing.model : {};
    delete model.sha256;
    existing.model = { ...model, uri };
    return;
  }
  const champion = getIn(spec, ['model']);
  const model: SpecObject = { uri };
  for (const key of ['inputs', 'outputs'] as const) {
    const value = isObject(champion) ? champion[key] : undefined;
    if (value !== undefined) model[key] = structuredClone(value);
  }
  challengers.push({ name, model });
}

/** Whether any spec field was given by flag (`values` may hold the command's other flags too). */
export function hasSpecFlags(values: SpecFlagValues): boolean {
  return Object.keys(specFlags).some((flag) => values[flag as keyof SpecFlagValues] !== undefined);
}

/**
 * The job spec to submit: `base` (a spec file's contents, or nothing) with every spec flag written over
 * it. Values are set as given (strings, numbers, lists); checking them is `parseJobSpec`'s job, which names
 * the field path. Numbers that do not parse are usage errors naming the flag.
 */
export function specFromFlags(base: SpecObject | undefined, values: SpecFlagValues): SpecObject {
  const spec: SpecObject = structuredClone(base ?? {});
  const set = (path: string[], value: unknown) => {
    if (value !== undefined) setIn(spec, path, value);
  };
  set(['name'], values.name);
  set(['input', 'uri'], values.input);
  set(['input', 'format'], values.format);
  set(['input', 'glob'], values.glob);
  if (values['no-header']) set(['input', 'header'], false);
  set(['model', 'uri'], values.model);
  set(['model', 'sha256'], values.sha256);

  const input = values['model-input'] ?? 'features';
  const mappings = (['columns', 'regex', 'list-column'] as const).filter((f) => values[f] !== undefined);
  if (mappings.length > 1)
    throw new UsageError(
      `--${mappings.join(', --')}: give one way to map the features, not ${mappings.length}`,
    );
  if (values.columns !== undefined) set(['model', 'inputs', input], { columns: splitList(values.columns) });
  if (values.regex !== undefined) set(['model', 'inputs', input], { columnsMatching: values.regex });
  if (values['list-column'] !== undefined)
    set(['model', 'inputs', input], { listColumn: values['list-column'] });
  if (values.nulls !== undefined) {
    if (mappings.length === 0 && !isObject(getIn(spec, ['model', 'inputs', input])))
      throw new UsageError(`--nulls: applies to a feature mapping; give --columns, --regex or --list-column`);
    set(['model', 'inputs', input, 'nulls'], parseNullPolicy(values.nulls));
  }
  if (values['score-column'] !== undefined)
    set(['model', 'outputs', values['model-output'] ?? 'score'], { column: values['score-column'] });

  set(['output', 'uri'], values.output);
  set(['output', 'format'], values['output-format']);
  if (values.passthrough !== undefined)
    set(['output', 'passthrough'], values.passthrough.trim() === '*' ? '*' : splitList(values.passthrough));
  if (values['chunk-rows'] !== undefined)
    set(['batch', 'chunkRows'], parseNumber('--chunk-rows', values['chunk-rows'], { integer: true, min: 1 }));
  const batchRows = values['batch-rows'];
  if (batchRows !== undefined)
    set(
      ['batch', 'rows'],
      batchRows === 'auto' ? 'auto' : parseNumber('--batch-rows', batchRows, { integer: true, min: 1 }),
    );
  set(['errors', 'onInvalidRow'], values['on-invalid-row']);
  if (values['max-invalid-fraction'] !== undefined)
    set(
      ['errors', 'maxInvalidFraction'],
      parseNumber('--max-invalid-fraction', values['max-invalid-fraction'], { min: 0, max: 1 }),
    );
  set(['webhook', 'url'], values['webhook-url']);
  set(['webhook', 'secret'], values['webhook-secret']);
  if (values.priority !== undefined)
    set(['priority'], parseNumber('--priority', values.priority, { integer: true, min: 1, max: 10 }));
  for (const label of values.label ?? []) {
    const [key, value] = parseLabel('--label', label);
    set(['labels', key], value);
  }
  for (const flag of values.challenger ?? []) addChallenger(spec, flag);
  set(['output', 'challengers'], values['challenger-output']);
  if (values['no-report']) set(['output', 'report'], false);
  set(['quality', 'baseline'], values['quality-baseline']);
  if (values['max-psi'] !== undefined)
    set(['quality', 'maxPsi'], parseNumber('--max-psi', values['max-psi'], { min: 0 }));
  if (values['max-null-fraction'] !== undefined)
    set(
      ['quality', 'maxNullFraction'],
      parseNumber('--max-null-fraction', values['max-null-fraction'], { min: 0, max: 1 }),
    );
  set(['quality', 'onViolation'], values['on-quality-violation']);
  return spec;
}
