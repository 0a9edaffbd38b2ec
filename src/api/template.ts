/**
 * Secret templates: one Secret key built from several objects of the same KeyVaultSync (a connection
 * string, a config file). The language is logic-less on purpose: literal text, `{{ name }}` for the
 * content of the object whose output name is `name`, optionally piped through encodings from a fixed
 * list (`{{ password | url-query }}`), and `{{ '{{' }}` for literal text that would otherwise open an
 * expression. There are no functions, conditions, loops, includes, variables or access to anything but
 * the objects the KeyVaultSync declares; an object's value is data, never parsed as a template.
 *
 * Parsing is done once per spec (parseKeyVaultSync reports problems as InvalidSpec); rendering is pure
 * and bounded: the output is checked against a byte budget before and after each encoding step, so a
 * template cannot amplify a value past the budget.
 */

/** The encodings a reference may be piped through, applied left to right. */
export const TEMPLATE_ENCODINGS = ['base64', 'base64url', 'hex', 'json-string', 'url-query'] as const;
export type TemplateEncoding = (typeof TEMPLATE_ENCODINGS)[number];

export const TEMPLATE_LIMITS = {
  /** Characters of one template (the CRD's maxLength). */
  length: 16_384,
  /** `{{ … }}` expressions in one template. */
  expressions: 64,
  /** Encodings piped after one reference. */
  encodingsPerReference: 4,
  /** Characters of a quoted literal. */
  literalLength: 64,
  /** Templates of one Secret. */
  perSecret: 16,
} as const;

export type TemplatePart = { kind: 'text'; text: string } | { kind: 'ref'; object: string; encodings: TemplateEncoding[] };

export interface ParsedTemplate {
  parts: TemplatePart[];
  /** Output names referenced, each once. */
  objects: string[];
}

export type TemplateParse = { ok: true; template: ParsedTemplate } | { ok: false; message: string };

const ENCODING_SET: ReadonlySet<string> = new Set(TEMPLATE_ENCODINGS);
/** An object output name: the characters of a data key. */
const NAME = /^[-._a-zA-Z0-9]+$/;
const LITERAL = /^'([^']*)'$/;

/** A short, printable excerpt of spec text for an error message (the spec holds no secret values). */
function excerpt(s: string): string {
  const t = s.length > 40 ? `${s.slice(0, 40)}…` : s;
  return JSON.stringify(t);
}

function parseExpression(body: string, parts: TemplatePart[]): string | undefined {
  const expr = body.trim();
  if (expr === '') return 'an empty {{ }}';
  const literal = LITERAL.exec(expr);
  if (literal !== null) {
    const text = literal[1] ?? '';
    if (text.length > TEMPLATE_LIMITS.literalLength) return `a quoted literal longer than ${TEMPLATE_LIMITS.literalLength} characters`;
    parts.push({ kind: 'text', text });
    return undefined;
  }
  const [head = '', ...pipes] = expr.split('|').map((p) => p.trim());
  if (!NAME.test(head)) {
    return `{{ ${excerpt(expr)} }}: an expression is an object output name, optionally followed by "| encoding"; there are no functions, variables or arguments`;
  }
  if (pipes.length > TEMPLATE_LIMITS.encodingsPerReference) return `{{ ${excerpt(expr)} }}: at most ${TEMPLATE_LIMITS.encodingsPerReference} encodings per reference`;
  const encodings: TemplateEncoding[] = [];
  for (const p of pipes) {
    if (!ENCODING_SET.has(p)) return `{{ ${excerpt(expr)} }}: ${excerpt(p)} is not an encoding; the encodings are ${TEMPLATE_ENCODINGS.join(', ')}`;
    encodings.push(p as TemplateEncoding);
  }
  parts.push({ kind: 'ref', object: head, encodings });
  return undefined;
}

/** Parses a template; never throws. Messages quote only short excerpts of the template itself. */
export function parseTemplate(source: string): TemplateParse {
  if (source.length > TEMPLATE_LIMITS.length) return { ok: false, message: `is longer than ${TEMPLATE_LIMITS.length} characters` };
  const parts: TemplatePart[] = [];
  let expressions = 0;
  let at = 0;
  while (at < source.length) {
    const open = source.indexOf('{{', at);
    if (open < 0) {
      parts.push({ kind: 'text', text: source.slice(at) });
      break;
    }
    if (open > at) parts.push({ kind: 'text', text: source.slice(at, open) });
    // A quoted literal may hold "{{" or "}}": its closing quote comes first.
    const quote = /^\s*'/.exec(source.slice(open + 2, open + 2 + TEMPLATE_LIMITS.literalLength));
    const bodyFrom = quote === null ? open + 2 : source.indexOf("'", open + 2 + quote[0].length);
    const close = bodyFrom < 0 ? -1 : source.indexOf('}}', bodyFrom);
    if (close < 0) return { ok: false, message: `"{{" at offset ${open} is never closed by "}}"` };
    const body = source.slice(open + 2, close);
    if (quote === null && body.includes('{{')) return { ok: false, message: `"{{" at offset ${open} opens another "{{" before it is closed; write {{ '{{' }} for a literal "{{"` };
    if (++expressions > TEMPLATE_LIMITS.expressions) return { ok: false, message: `has more than ${TEMPLATE_LIMITS.expressions} {{ }} expressions` };
    const problem = parseExpression(body, parts);
    if (problem !== undefined) return { ok: false, message: problem };
    at = close + 2;
  }
  // Adjacent text parts (a literal next to text) are joined, so rendering is one pass of a short list.
  const joined: TemplatePart[] = [];
  for (const p of parts) {
    const last = joined.at(-1);
    if (p.kind === 'text' && last?.kind === 'text') last.text += p.text;
    else joined.push(p.kind === 'text' ? { ...p } : p);
  }
  const objects = [...new Set(joined.flatMap((p) => (p.kind === 'ref' ? [p.object] : [])))];
  return { ok: true, template: { parts: joined, objects } };
}

/** Characters `url-query` leaves as they are (RFC 3986 unreserved). */
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

function encode(e: TemplateEncoding, value: Buffer): Buffer | string {
  switch (e) {
    case 'base64':
      return value.toString('base64');
    case 'base64url':
      return value.toString('base64url');
    case 'hex':
      return value.toString('hex');
    case 'json-string': {
      const text = new TextDecoder('utf-8', { fatal: true }).decode(value);
      return JSON.stringify(text);
    }
    case 'url-query': {
      let out = '';
      for (const byte of value) {
        const c = String.fromCharCode(byte);
        out += byte < 0x80 && UNRESERVED.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
      }
      return out;
    }
  }
}

/** Why a template could not be rendered: a fixed set, so it can label a metric. */
export type TemplateFailure = 'too_large' | 'not_text';

export type TemplateRender = { ok: true; value: Buffer } | { ok: false; failure: TemplateFailure; message: string };

/**
 * Renders a parsed template. `valueOf` gives the content of a referenced object (the caller decides
 * which objects exist: only those of the KeyVaultSync). Nothing in a value is interpreted. The output,
 * and every intermediate encoding, stays within `maxBytes`.
 */
export function renderTemplate(t: ParsedTemplate, valueOf: (object: string) => Buffer, maxBytes: number): TemplateRender {
  const chunks: Buffer[] = [];
  let size = 0;
  const tooLarge = (): TemplateRender => ({ ok: false, failure: 'too_large', message: `would be larger than ${maxBytes} bytes` });
  for (const p of t.parts) {
    let piece: Buffer;
    if (p.kind === 'text') piece = Buffer.from(p.text, 'utf8');
    else {
      piece = valueOf(p.object);
      for (const e of p.encodings) {
        // Every encoding's output is at least as long as its input, and at most six times as long.
        if (size + piece.length > maxBytes) return tooLarge();
        let encoded: Buffer | string;
        try {
          encoded = encode(e, piece);
        } catch {
          return { ok: false, failure: 'not_text', message: `the value of "${p.object}" is not UTF-8 text, so ${e} cannot encode it` };
        }
        piece = typeof encoded === 'string' ? Buffer.from(encoded, 'utf8') : encoded;
        if (size + piece.length > maxBytes) return tooLarge();
      }
    }
    size += piece.length;
    if (size > maxBytes) return tooLarge();
    chunks.push(piece);
  }
  return { ok: true, value: Buffer.concat(chunks, size) };
}
