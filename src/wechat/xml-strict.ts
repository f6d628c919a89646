/**
 * @module A strict reader for the element-only XML WeChat sends: elements without attributes, text, CDATA, the five
 * predefined entities and character references. It reads such a document in one pass (a fifth of the cost of
 * fast-xml-parser's validator and parser together) and answers `undefined` for anything else — a declaration,
 * a comment, an attribute, a control character, an unknown entity, a malformed or too deep document —
 * which the caller then hands to fast-xml-parser, the reference: whatever this reader accepts, the library reads
 * to the same value (test/wechat/xml-strict.test.ts checks that on every sample and on many thousands of
 * generated and mutated documents). So it never refuses anything itself: every error message is the library's.
 * Hand-written because it is small and only ours: no XML library offers "this subset or nothing".
 */

/**
 * Names an object already has (`toString`, `__proto__`, …) and `prototype`: the library refuses some and renames
 * others (`__toString`), so they are all its to read.
 */
const INHERITED = new Set([...Object.getOwnPropertyNames(Object.prototype), 'prototype'])
/** Every inherited name starts with a lower-case letter or '_'; WeChat's start with a capital, decided by one char. */
const inheritedName = (name: string) => { const c = name.charCodeAt(0); return !(c >= 65 && c <= 90) && INHERITED.has(name) }
/** Far below the library's maxNestedTags (32); WeChat's deepest documents have 4 levels. */
const MAX_DEPTH = 16
const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" }

const LT = 60 // <
const GT = 62 // >
const SLASH = 47
const AMP = 38
const BANG = 33

/** An ASCII name: [A-Za-z_][A-Za-z0-9_.-]* (the library reads a wider set, which then goes to it). */
const isNameStart = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95
const isNameChar = (c: number) => isNameStart(c) || (c >= 48 && c <= 57) || c === 45 || c === 46
/** Space, tab and newline: the whitespace this reader skips between elements (a `\r` is a `\n` by then). */
const isSpace = (c: number) => c === 32 || c === 9 || c === 10

/** Thrown inside the reader for "not mine"; caught in {@link readStrictXml}, never seen by a caller. */
const NOT_MINE: unique symbol = Symbol('not mine')

class Reader {
  i = 0
  constructor(readonly s: string) {}

  /** Text up to the next '<' (or the end), decoded; each run is trimmed as the library does before decoding. */
  text(): string {
    const s = this.s
    const start = this.i
    let end = s.indexOf('<', start)
    if (end < 0) end = s.length
    let hasAmp = false
    for (let k = start; k < end; k++) {
      const c = s.charCodeAt(k)
      if (c < 32 && c !== 9 && c !== 10) throw NOT_MINE
      if (c === AMP) hasAmp = true
      // ']]>' outside CDATA: left to the library.
      else if (c === GT && k >= start + 2 && s.charCodeAt(k - 1) === 93 && s.charCodeAt(k - 2) === 93) throw NOT_MINE
    }
    this.i = end
    const raw = s.slice(start, end).trim()
    return hasAmp ? decodeStrict(raw) : raw
  }

  /** The children of the element whose start tag was just read, up to and including its end tag. */
  content(name: string, depth: number): string | Record<string, unknown> {
    if (depth > MAX_DEPTH) throw NOT_MINE
    const s = this.s
    let leaf = ''
    let pieces = false
    let obj: Record<string, unknown> | undefined
    for (;;) {
      const t = this.text()
      if (t !== '') {
        if (obj) throw NOT_MINE
        leaf += t
        pieces = true
      }
      if (this.i >= s.length) throw NOT_MINE
      // s[i] is '<'
      const c1 = s.charCodeAt(this.i + 1)
      if (c1 === SLASH) {
        const close = this.i + 2
        if (!s.startsWith(name, close) || s.charCodeAt(close + name.length) !== GT) throw NOT_MINE
        this.i = close + name.length + 1
        return obj ?? leaf
      }
      if (c1 === BANG) {
        if (!s.startsWith('<![CDATA[', this.i) || obj) throw NOT_MINE
        const from = this.i + 9
        const to = s.indexOf(']]>', from)
        if (to < 0) throw NOT_MINE
        for (let k = from; k < to; k++) {
          const c = s.charCodeAt(k)
          if (c < 32 && c !== 9 && c !== 10) throw NOT_MINE
        }
        leaf += s.slice(from, to)
        pieces = true
        this.i = to + 3
        continue
      }
      if (!isNameStart(c1) || pieces) throw NOT_MINE
      const child = this.startTag()
      const value = child.selfClosing ? '' : this.content(child.name, depth + 1)
      obj ??= {}
      const prev = obj[child.name]
      if (prev === undefined) obj[child.name] = value
      else if (Array.isArray(prev)) prev.push(value)
      else obj[child.name] = [prev, value]
    }
  }

  /** `<name>` or `<name/>` at i, nothing else (no space, no attribute). */
  startTag(): { name: string; selfClosing: boolean } {
    const s = this.s
    let k = this.i + 1
    while (k < s.length && isNameChar(s.charCodeAt(k))) k++
    const name = s.slice(this.i + 1, k)
    if (inheritedName(name)) throw NOT_MINE
    const c = s.charCodeAt(k)
    if (c === GT) {
      this.i = k + 1
      return { name, selfClosing: false }
    }
    if (c === SLASH && s.charCodeAt(k + 1) === GT) {
      this.i = k + 2
      return { name, selfClosing: true }
    }
    throw NOT_MINE
  }
}

const ENTITY_RE = /&(?:(lt|gt|amp|quot|apos)|#([0-9]{1,7})|#x([0-9a-fA-F]{1,6}));/y

/** The five entities and valid character references; any other '&' is not this reader's. */
const decodeStrict = (text: string): string => {
  let out = ''
  let from = 0
  for (let at = text.indexOf('&'); at >= 0; at = text.indexOf('&', from)) {
    ENTITY_RE.lastIndex = at
    const m = ENTITY_RE.exec(text)
    if (!m) throw NOT_MINE
    let ch: string
    if (m[1] !== undefined) ch = PREDEFINED[m[1]]!
    else {
      const cp = m[2] !== undefined ? Number.parseInt(m[2], 10) : Number.parseInt(m[3]!, 16)
      // NUL, surrogates, beyond Unicode and control characters (which a reference can name): the library's.
      if (cp < 32 ? cp !== 9 && cp !== 10 : cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) throw NOT_MINE
      ch = String.fromCodePoint(cp)
    }
    out += text.slice(from, at) + ch
    from = at + m[0].length
  }
  return out + text.slice(from)
}

/**
 * The children of the `<xml>` root of a document in WeChat's subset, as src/wechat/xml.ts's parseXml returns them
 * (leaves are strings, a repeated element an array, `<xml></xml>` is `{}`), or `undefined` when the document is
 * anything else and must go to the library.
 */
export const readStrictXml = (input: string): Record<string, unknown> | undefined => {
  // As the library does first of all, CDATA included: a line end is '\n'.
  const raw = input.includes('\r') ? input.replace(/\r\n?/g, '\n') : input
  const r = new Reader(raw)
  let i = 0
  while (i < raw.length && isSpace(raw.charCodeAt(i))) i++
  if (!raw.startsWith('<xml>', i)) return undefined
  r.i = i + 5
  let value: string | Record<string, unknown>
  try {
    value = r.content('xml', 1)
  } catch (e) {
    if (e === NOT_MINE) return undefined
    throw e
  }
  for (let k = r.i; k < raw.length; k++) if (!isSpace(raw.charCodeAt(k))) return undefined
  if (typeof value === 'string') return value === '' ? {} : undefined
  return value
}
