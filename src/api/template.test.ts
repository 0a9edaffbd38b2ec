import { describe, expect, it } from 'vitest';
import { parseTemplate, renderTemplate, TEMPLATE_LIMITS } from './template.ts';
import type { ParsedTemplate } from './template.ts';

function parsed(source: string): ParsedTemplate {
  const r = parseTemplate(source);
  if (!r.ok) throw new Error(r.message);
  return r.template;
}

function problem(source: string): string {
  const r = parseTemplate(source);
  if (r.ok) throw new Error(`expected ${JSON.stringify(source)} to be refused`);
  return r.message;
}

function render(source: string, values: Record<string, string | Buffer>, maxBytes = 1024 * 1024): string {
  const r = renderTemplate(parsed(source), (n) => Buffer.from(values[n] ?? ''), maxBytes);
  if (!r.ok) throw new Error(r.message);
  return r.value.toString('utf8');
}

describe('parseTemplate', () => {
  it('splits text and references, joins literals into text, and lists each object once', () => {
    const t = parsed("postgres://{{user|url-query}}:{{ password | url-query }}@db/{{ '{{' }}x}} {{user}}");
    expect(t.objects).toEqual(['user', 'password']);
    expect(t.parts).toEqual([
      { kind: 'text', text: 'postgres://' },
      { kind: 'ref', object: 'user', encodings: ['url-query'] },
      { kind: 'text', text: ':' },
      { kind: 'ref', object: 'password', encodings: ['url-query'] },
      { kind: 'text', text: '@db/{{x}} ' },
      { kind: 'ref', object: 'user', encodings: [] },
    ]);
  });

  it('takes text without expressions, and a lone "}}", as literal text', () => {
    expect(parsed('{"a": {"b": 1}}').parts).toEqual([{ kind: 'text', text: '{"a": {"b": 1}}' }]);
  });

  it('refuses functions, arguments, unknown encodings, unclosed and nested braces, with a reason', () => {
    expect(problem('{{ env "HOME" }}')).toContain('there are no functions');
    expect(problem('{{ x | b64enc }}')).toContain('"b64enc" is not an encoding; the encodings are base64, base64url, hex, json-string, url-query');
    expect(problem('{{ x | }}')).toContain('"" is not an encoding');
    expect(problem('a {{ x')).toBe('"{{" at offset 2 is never closed by "}}"');
    expect(problem('{{ {{ x }} }}')).toContain('opens another "{{"');
    expect(problem('{{ }}')).toBe('an empty {{ }}');
    expect(problem(`{{ '${'x'.repeat(TEMPLATE_LIMITS.literalLength + 1)}' }}`)).toContain('quoted literal longer');
  });

  it('bounds the template: length, expressions and encodings per reference', () => {
    expect(problem('x'.repeat(TEMPLATE_LIMITS.length + 1))).toContain('longer than');
    expect(problem('{{ a }}'.repeat(TEMPLATE_LIMITS.expressions + 1))).toContain(`more than ${TEMPLATE_LIMITS.expressions}`);
    expect(problem(`{{ a${' | hex'.repeat(TEMPLATE_LIMITS.encodingsPerReference + 1)} }}`)).toContain(`at most ${TEMPLATE_LIMITS.encodingsPerReference} encodings`);
    expect(parseTemplate('{{ a }}'.repeat(TEMPLATE_LIMITS.expressions)).ok).toBe(true);
  });

  it('quotes at most 40 characters of the template in a message', () => {
    expect(problem(`{{ ${'f'.repeat(100)} x }}`).length).toBeLessThan(200);
  });
});

describe('renderTemplate', () => {
  const v = { p: 'a b&c/é"\n', bin: Buffer.from([0, 0xff, 0x10]) };

  it('applies each encoding, left to right', () => {
    expect(render('{{ p | base64 }}', v)).toBe(Buffer.from(v.p).toString('base64'));
    expect(render('{{ bin | base64url }}', v)).toBe('AP8Q');
    expect(render('{{ bin | hex }}', v)).toBe('00ff10');
    expect(render('{{ p | json-string }}', v)).toBe(JSON.stringify(v.p));
    expect(render('{{ p | url-query }}', v)).toBe('a%20b%26c%2F%C3%A9%22%0A');
    expect(render('{{ p | hex | base64 }}', v)).toBe(Buffer.from(Buffer.from(v.p).toString('hex')).toString('base64'));
  });

  it('substitutes bytes as they are, and never interprets a value', () => {
    expect(render('[{{ x }}]', { x: "{{ p }} {{ '{{' }}", p: 'secret' })).toBe("[{{ p }} {{ '{{' }}]");
    const r = renderTemplate(parsed('{{ bin }}'), () => v.bin, 100);
    expect(r.ok && [...r.value]).toEqual([0, 0xff, 0x10]);
  });

  it('refuses json-string of a value that is not UTF-8, naming the object only', () => {
    const r = renderTemplate(parsed('{{ bin | json-string }}'), () => v.bin, 100);
    expect(r).toEqual({ ok: false, failure: 'not_text', message: 'the value of "bin" is not UTF-8 text, so json-string cannot encode it' });
  });

  it('stops at the byte budget before an encoding multiplies a value past it', () => {
    const big = Buffer.alloc(400, 'x');
    expect(renderTemplate(parsed('{{ b }}{{ b }}'), () => big, 800).ok).toBe(true);
    expect(renderTemplate(parsed('{{ b }}{{ b }}{{ b }}'), () => big, 800)).toEqual({ ok: false, failure: 'too_large', message: 'would be larger than 800 bytes' });
    expect(renderTemplate(parsed('{{ b | hex }}{{ b | hex }}'), () => big, 800).ok).toBe(false);
    expect(renderTemplate(parsed('{{ b | json-string | json-string | json-string | json-string }}'), () => Buffer.alloc(100, '"'), 800).ok).toBe(false);
  });
});

describe('parseTemplate: quoted literals', () => {
  it('may hold "}}" and "{{"', () => {
    expect(parsed("a{{ '}}' }}b{{ '{{' }}").parts).toEqual([{ kind: 'text', text: 'a}}b{{' }]);
  });
});
