/**
 * The YAML examples of docs/*.md marked as kvsync resources: fenced blocks opened with
 * "```yaml kvsync". Used by the unit test (parseKeyVaultSync) and the integration test (the real
 * apiserver, server-side dry run) so both check the same blocks.
 *
 * A worked example adds two more markers: "```yaml kvsync-vault" says what the Key Vault holds, and
 * each "```yaml kvsync-expect" says what the Secrets hold once the kvsync block above it is applied
 * and synced (or, with `after: delete`, once the last applied one is deleted). The integration test
 * seeds the emulator with the vault block, applies the kvsync blocks as written, and checks every
 * expectation, so the page's prose and its test describe one outcome.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, parseAllDocuments } from 'yaml';

export const DOCS_DIR = resolve(fileURLToPath(new URL('../../../docs', import.meta.url)));

/** The docs pages whose kvsync blocks are checked. */
export const EXAMPLE_PAGES = ['migration.md', 'api.md'] as const;

export interface DocExample {
  /** `docs/<page>` */
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  objects: Record<string, unknown>[];
}

type Marker = 'kvsync' | 'kvsync-vault' | 'kvsync-expect';

interface FencedBlock {
  marker: Marker;
  /** 1-based line of the opening fence. */
  line: number;
  body: string;
}

/** The marked YAML blocks of a Markdown text, in page order. */
function markedBlocks(markdown: string): FencedBlock[] {
  const out: FencedBlock[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```ya?ml\s+(kvsync(?:-vault|-expect)?)\s*$/.exec(lines[i] ?? '');
    if (open === null) continue;
    const line = i + 1;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i] ?? ''); i++) body.push(lines[i] ?? '');
    out.push({ marker: open[1] as Marker, line, body: body.join('\n') });
  }
  return out;
}

function parseKvsyncBlock(file: string, block: FencedBlock): DocExample {
  const objects = parseAllDocuments(block.body).map((d) => {
    if (d.errors.length > 0) throw new Error(`${file}:${block.line}: YAML error: ${d.errors[0]?.message ?? ''}`);
    return d.toJS() as Record<string, unknown>;
  });
  return { file, line: block.line, objects };
}

/**
 * Every kvsync block of a Markdown text, parsed into its YAML documents.
 * @throws Error naming the file and line when a block is not valid YAML.
 */
export function kvsyncExamples(file: string, markdown: string): DocExample[] {
  return markedBlocks(markdown)
    .filter((b) => b.marker === 'kvsync')
    .map((b) => parseKvsyncBlock(file, b));
}

/** The kvsync blocks of one page under docs/. */
export function pageExamples(page: string): DocExample[] {
  return kvsyncExamples(`docs/${page}`, readFileSync(resolve(DOCS_DIR, page), 'utf8'));
}

/** A secret of the vault block: created with this value and these tags. */
export interface SeedSecret {
  name: string;
  value: string;
  tags?: Record<string, string>;
}

/** A certificate of the vault block: issued by the vault itself (issuer `Self`). */
export interface SeedCertificate {
  name: string;
  /** Default `CN=<name>`. */
  subject?: string;
  dnsNames?: [string, ...string[]];
  tags?: Record<string, string>;
}

/** What the vault of a worked example (the emulator's `devkv`) holds before the first kvsync block is applied. */
export interface VaultSeed {
  secrets: SeedSecret[];
  certificates: SeedCertificate[];
}

/** An expected data value: the exact text, or PEM blocks with these labels in this order (`PRIVATE KEY`, `CERTIFICATE`, …). */
export type ExpectedValue = string | { pem: string[] };

export interface ExpectedSecret {
  /** The Secret's type, when the expectation names one. */
  type?: string;
  /** Every data key of the Secret (no more, no fewer), decoded. */
  data: Record<string, ExpectedValue>;
}

export interface Expectation {
  /** What happens before the check: the kvsync block above is applied, or the last applied one deleted. */
  after: 'apply' | 'delete';
  /** Secrets of the example's namespace, by name. */
  secrets: Record<string, ExpectedSecret>;
  /** Secrets that must not exist. */
  absent: string[];
}

export interface WorkedStep {
  /** `docs/<page>:<line>` of the expect block. */
  where: string;
  /** The kvsync block applied (after: apply) or deleted (after: delete). */
  example: DocExample;
  expect: Expectation;
}

export interface WorkedExample {
  /** `docs/<page>:<line>` of the vault block. */
  where: string;
  vault: VaultSeed;
  steps: WorkedStep[];
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fail(where: string, msg: string): never {
  throw new Error(`${where}: ${msg}`);
}

function onlyFields(where: string, v: Obj, allowed: string[]): void {
  const extra = Object.keys(v).filter((k) => !allowed.includes(k));
  if (extra.length > 0) fail(where, `unknown field ${extra.join(', ')} (allowed: ${allowed.join(', ')})`);
}

function stringMap(where: string, v: unknown): Record<string, string> {
  if (!isObj(v) || Object.values(v).some((x) => typeof x !== 'string')) fail(where, 'must be a map of strings');
  return v as Record<string, string>;
}

function list(where: string, v: unknown): unknown[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) fail(where, 'must be a list');
  return v;
}

function name(where: string, v: Obj): string {
  if (typeof v.name !== 'string' || v.name === '') fail(where, 'needs a name');
  return v.name;
}

/** Parses a vault block. @throws Error naming the block when it has another shape. */
export function parseVaultSeed(where: string, body: string): VaultSeed {
  const doc: unknown = parseYaml(body);
  if (!isObj(doc)) fail(where, 'a kvsync-vault block is a map with secrets and certificates');
  onlyFields(where, doc, ['secrets', 'certificates']);
  const secrets = list(`${where} secrets`, doc.secrets).map((s, i): SeedSecret => {
    const at = `${where} secrets[${i}]`;
    if (!isObj(s)) fail(at, 'must be a map');
    onlyFields(at, s, ['name', 'value', 'tags']);
    if (typeof s.value !== 'string') fail(at, 'needs a string value');
    return { name: name(at, s), value: s.value, ...(s.tags === undefined ? {} : { tags: stringMap(`${at}.tags`, s.tags) }) };
  });
  const certificates = list(`${where} certificates`, doc.certificates).map((c, i): SeedCertificate => {
    const at = `${where} certificates[${i}]`;
    if (!isObj(c)) fail(at, 'must be a map');
    onlyFields(at, c, ['name', 'subject', 'dnsNames', 'tags']);
    if (c.subject !== undefined && typeof c.subject !== 'string') fail(`${at}.subject`, 'must be a string');
    const dnsNames = list(`${at}.dnsNames`, c.dnsNames).map((d) => (typeof d === 'string' ? d : fail(`${at}.dnsNames`, 'must be a list of strings')));
    const [firstDnsName, ...moreDnsNames] = dnsNames;
    return {
      name: name(at, c),
      ...(c.subject === undefined ? {} : { subject: c.subject }),
      ...(firstDnsName === undefined ? {} : { dnsNames: [firstDnsName, ...moreDnsNames] }),
      ...(c.tags === undefined ? {} : { tags: stringMap(`${at}.tags`, c.tags) }),
    };
  });
  return { secrets, certificates };
}

function expectedValue(where: string, v: unknown): ExpectedValue {
  if (typeof v === 'string') return v;
  if (isObj(v) && Object.keys(v).length === 1 && Array.isArray(v.pem) && v.pem.length > 0 && v.pem.every((l) => typeof l === 'string')) return { pem: v.pem };
  return fail(where, 'must be the exact text or {pem: [labels of the PEM blocks, in order]}');
}

/** Parses an expect block. @throws Error naming the block when it has another shape. */
export function parseExpectation(where: string, body: string): Expectation {
  const doc: unknown = parseYaml(body);
  if (!isObj(doc)) fail(where, 'a kvsync-expect block is a map with after, secrets and absent');
  onlyFields(where, doc, ['after', 'secrets', 'absent']);
  const after = doc.after ?? 'apply';
  if (after !== 'apply' && after !== 'delete') fail(`${where} after`, 'must be apply or delete');
  const secrets: Record<string, ExpectedSecret> = {};
  if (doc.secrets !== undefined && !isObj(doc.secrets)) fail(`${where} secrets`, 'must be a map of Secret names');
  for (const [secretName, s] of Object.entries(doc.secrets ?? {})) {
    const at = `${where} secrets.${secretName}`;
    if (!isObj(s) || !isObj(s.data)) fail(at, 'needs data (every key of the Secret)');
    onlyFields(at, s, ['type', 'data']);
    if (s.type !== undefined && typeof s.type !== 'string') fail(`${at}.type`, 'must be a string');
    const data = Object.fromEntries(Object.entries(s.data).map(([k, v]) => [k, expectedValue(`${at}.data.${k}`, v)]));
    secrets[secretName] = { ...(s.type === undefined ? {} : { type: s.type }), data };
  }
  const absent = list(`${where} absent`, doc.absent);
  if (absent.some((a) => typeof a !== 'string')) fail(`${where} absent`, 'must be a list of Secret names');
  if (Object.keys(secrets).length + absent.length === 0) fail(where, 'expects nothing');
  return { after, secrets, absent: absent as string[] };
}

/**
 * The worked examples of a Markdown text: each starts at a kvsync-vault block, and each of its
 * kvsync-expect blocks checks the kvsync block just above it (none between the two with
 * `after: delete`). A kvsync block no expectation follows is not part of a worked example.
 * @throws Error naming the file and line of a block out of place or of another shape.
 */
export function workedExamples(file: string, markdown: string): WorkedExample[] {
  const out: WorkedExample[] = [];
  let current: WorkedExample | undefined;
  let pending: DocExample | undefined;
  let applied: DocExample | undefined;
  for (const block of markedBlocks(markdown)) {
    const where = `${file}:${block.line}`;
    if (block.marker === 'kvsync-vault') {
      current = { where, vault: parseVaultSeed(where, block.body), steps: [] };
      out.push(current);
      pending = undefined;
      applied = undefined;
    } else if (block.marker === 'kvsync') {
      pending = parseKvsyncBlock(file, block);
    } else {
      if (current === undefined) fail(where, 'a kvsync-expect block needs a kvsync-vault block before it');
      const expect = parseExpectation(where, block.body);
      if (expect.after === 'apply') {
        if (pending === undefined) fail(where, 'after: apply needs a kvsync block between the previous expectation and this one');
        applied = pending;
      } else {
        if (pending !== undefined) fail(where, 'after: delete follows an expectation, with no kvsync block between');
        if (applied === undefined) fail(where, 'after: delete needs an applied kvsync block before it');
      }
      current.steps.push({ where, example: applied, expect });
      pending = undefined;
    }
  }
  for (const ex of out) if (ex.steps.length === 0) fail(ex.where, 'a kvsync-vault block with no kvsync-expect block after it');
  return out;
}

/** The worked examples of one page under docs/. */
export function pageWorkedExamples(page: string): WorkedExample[] {
  return workedExamples(`docs/${page}`, readFileSync(resolve(DOCS_DIR, page), 'utf8'));
}

/** A Secret as the check sees it: its type and its data, decoded as UTF-8. */
export interface ObservedSecret {
  type?: string;
  data: Record<string, string>;
}

function pemLabels(text: string): string[] {
  return [...text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----/g)].map((m) => m[1] ?? '');
}

/**
 * How the observed Secrets differ from an expectation, one line per difference (empty when they
 * match). Lines name Secrets and keys, never a value: the check may run on certificates' keys.
 */
export function expectationMismatches(expect: Expectation, observed: ReadonlyMap<string, ObservedSecret>): string[] {
  const out: string[] = [];
  for (const [secretName, want] of Object.entries(expect.secrets)) {
    const got = observed.get(secretName);
    if (got === undefined) {
      out.push(`Secret ${secretName} is missing`);
      continue;
    }
    if (want.type !== undefined && got.type !== want.type) out.push(`Secret ${secretName} has type ${String(got.type)}, not ${want.type}`);
    const wantKeys = Object.keys(want.data).sort();
    const gotKeys = Object.keys(got.data).sort();
    if (JSON.stringify(wantKeys) !== JSON.stringify(gotKeys)) out.push(`Secret ${secretName} has the keys [${gotKeys.join(', ')}], not [${wantKeys.join(', ')}]`);
    for (const [key, value] of Object.entries(want.data)) {
      const text = got.data[key];
      if (text === undefined) continue;
      if (typeof value === 'string') {
        if (text !== value) out.push(`Secret ${secretName} key ${key} holds another value`);
      } else {
        const labels = pemLabels(text);
        if (JSON.stringify(labels) !== JSON.stringify(value.pem)) out.push(`Secret ${secretName} key ${key} holds the PEM blocks [${labels.join(', ')}], not [${value.pem.join(', ')}]`);
      }
    }
  }
  for (const secretName of expect.absent) if (observed.has(secretName)) out.push(`Secret ${secretName} exists`);
  return out;
}
