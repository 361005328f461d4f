/**
 * Values in scenario files: sizes ("256MiB", "${guest} - 2MiB + 28KiB"),
 * durations ("200ms", "1.5us") and plain counts ("${pinsPerGiB} * 4"), as
 * arithmetic over numbers with units. Parameters are substituted as text
 * before parsing, so "${guest}" may hold "1GiB" or 1073741824 alike.
 *
 * Grammar:  expr := term (('+' | '-') term)*
 *           term := factor (('*' | '/') factor)*
 *           factor := '-' factor | '(' expr ')' | number unit?
 */

export type Dimension = 'size' | 'duration' | 'count';

const UNITS: Record<Dimension, Record<string, number>> = {
  size: { b: 1, k: 2 ** 10, kb: 2 ** 10, kib: 2 ** 10, m: 2 ** 20, mb: 2 ** 20, mib: 2 ** 20, g: 2 ** 30, gb: 2 ** 30, gib: 2 ** 30, t: 2 ** 40, tb: 2 ** 40, tib: 2 ** 40 },
  duration: { ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9 },
  count: {},
};

/** Units accepted for a dimension, for error messages. */
export function unitsOf(d: Dimension): string[] {
  return d === 'size' ? ['B', 'KiB', 'MiB', 'GiB', 'TiB'] : d === 'duration' ? ['ns', 'us', 'ms', 's'] : [];
}

export class ExprError extends Error {
  constructor(
    message: string,
    /** Offset in the expression text where the problem is. */
    readonly offset: number,
  ) {
    super(message);
    this.name = 'ExprError';
  }
}

const PARAM_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
/** A string that is exactly one parameter reference. */
export const WHOLE_PARAM_REF = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/;

export type ParamValue = number | string | boolean;

/**
 * Replace every ${name} in text by the parameter's value; an unknown name is an
 * ExprError at its offset. A string that is exactly "${name}" becomes the value
 * itself (keeping numbers and booleans typed).
 */
export function substitute(text: string, params: Readonly<Record<string, ParamValue>>): ParamValue {
  const whole = WHOLE_PARAM_REF.exec(text);
  if (whole !== null) return lookup(whole[1]!, 0, params);
  return text.replace(PARAM_REF, (_m, name: string, offset: number) => String(lookup(name, offset, params)));
}

function lookup(name: string, offset: number, params: Readonly<Record<string, ParamValue>>): ParamValue {
  if (!Object.hasOwn(params, name)) {
    const known = Object.keys(params);
    throw new ExprError(`unknown parameter \${${name}}${known.length > 0 ? `; parameters: ${known.join(', ')}` : ' (the scenario has no params)'}`, offset);
  }
  return params[name]!;
}

/** Evaluate an expression of the given dimension: a number, or text in the grammar above. */
export function evaluate(v: ParamValue, dim: Dimension): number {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new ExprError(`expected a finite number, got ${v}`, 0);
    return v;
  }
  if (typeof v === 'boolean') throw new ExprError(`expected ${describe(dim)}, got ${v}`, 0);
  const p = new Parser(v, dim);
  const x = p.expr();
  p.skip();
  if (p.pos < v.length) throw new ExprError(`unexpected '${v[p.pos]}' in ${JSON.stringify(v)}`, p.pos);
  if (!Number.isFinite(x)) throw new ExprError(`${JSON.stringify(v)} is not a finite number`, 0);
  return x;
}

function describe(dim: Dimension): string {
  return dim === 'count' ? 'a number' : `a ${dim} (a number or text such as ${dim === 'size' ? '"2MiB"' : '"200us"'})`;
}

class Parser {
  pos = 0;
  constructor(
    private readonly s: string,
    private readonly dim: Dimension,
  ) {}

  skip(): void {
    while (this.pos < this.s.length && /\s/.test(this.s[this.pos]!)) this.pos++;
  }

  expr(): number {
    let x = this.term();
    for (;;) {
      this.skip();
      const c = this.s[this.pos];
      if (c !== '+' && c !== '-') return x;
      this.pos++;
      const y = this.term();
      x = c === '+' ? x + y : x - y;
    }
  }

  term(): number {
    let x = this.factor();
    for (;;) {
      this.skip();
      const c = this.s[this.pos];
      if (c !== '*' && c !== '/') return x;
      this.pos++;
      const at = this.pos;
      const y = this.factor();
      if (c === '/' && y === 0) throw new ExprError('division by zero', at);
      x = c === '*' ? x * y : x / y;
    }
  }

  factor(): number {
    this.skip();
    const c = this.s[this.pos];
    if (c === '-') {
      this.pos++;
      return -this.factor();
    }
    if (c === '(') {
      this.pos++;
      const x = this.expr();
      this.skip();
      if (this.s[this.pos] !== ')') throw new ExprError(`expected ')' in ${JSON.stringify(this.s)}`, this.pos);
      this.pos++;
      return x;
    }
    const m = /^(0[xX][0-9a-fA-F]+|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\s*([A-Za-zµ]*)/.exec(this.s.slice(this.pos));
    if (m === null) throw new ExprError(`expected ${describe(this.dim)} in ${JSON.stringify(this.s)}`, this.pos);
    const at = this.pos;
    this.pos += m[0].length;
    const n = Number(m[1]);
    if (m[2] === '') return n;
    const mult = UNITS[this.dim][m[2]!.toLowerCase()];
    if (mult === undefined) {
      const valid = unitsOf(this.dim);
      throw new ExprError(`unknown unit '${m[2]}' in ${JSON.stringify(this.s)}${valid.length > 0 ? `; ${this.dim} units: ${valid.join(', ')}` : ' (a plain number is expected here)'}`, at);
    }
    return n * mult;
  }
}
