/**
 * Text for any JavaScript value in an error message, without ever throwing.
 *
 * Error messages name the value a caller passed. Coercing it with String() or
 * a template literal runs the caller's code (toString, valueOf,
 * Symbol.toPrimitive, Proxy traps) and throws for a Symbol; JSON.stringify
 * throws for a BigInt. Building an error must not fail, so this looks only at
 * typeof and at primitives, and names objects by kind instead.
 */

// Captured at load time: a caller cannot replace them later.
const symbolToString = Symbol.prototype.toString;
const jsonStringify = JSON.stringify;

/** A short, quoted or literal rendering of v; objects and functions are named by kind. */
export function describeValue(v: unknown, max = 64): string {
  switch (typeof v) {
    case 'string': {
      const s = v.length > max ? `${v.slice(0, max)}...` : v;
      return jsonStringify(s);
    }
    case 'number':
      return Object.is(v, -0) ? '-0' : `${v}`;
    case 'bigint':
      return `${v}n`;
    case 'boolean':
      return v ? 'true' : 'false';
    case 'undefined':
      return 'undefined';
    case 'symbol':
      return symbolToString.call(v);
    case 'function':
      return 'a function';
    default:
      return v === null ? 'null' : 'an object';
  }
}

/** v itself when it is a string, else describeValue(v): for fields that should hold text. */
export function textOf(v: unknown): string {
  return typeof v === 'string' ? v : describeValue(v);
}
