/** @module Strict, safe reading of WeChat callback XML, and CDATA for the XML we write. */
import { XMLParser, XMLValidator } from 'fast-xml-parser'
import { BadXmlError } from '../lib/errors.ts'
import { readStrictXml } from './xml-strict.ts'

// The five predefined XML entities and numeric character references; nothing else is ever expanded.
const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" }
const ENTITY_RE = /&(?:(lt|gt|amp|quot|apos)|#([0-9]{1,7})|#x([0-9a-fA-F]{1,6}));/g

/** One left-to-right pass, so `&amp;lt;` becomes `&lt;` and is not decoded twice. Unknown `&name;` stays literal. */
const decodeEntities = (text: string): string =>
  text.includes('&')
    ? text.replace(ENTITY_RE, (whole, name: string | undefined, dec: string | undefined, hex: string | undefined) => {
        if (name !== undefined) return PREDEFINED[name] ?? whole
        const cp = dec !== undefined ? Number.parseInt(dec, 10) : Number.parseInt(hex ?? '', 16)
        const ok = cp > 0 && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff)
        return ok ? String.fromCodePoint(cp) : whole
      })
    : text

/**
 * Our own entity decoder replaces the library's: it knows no entity beyond the five predefined ones, so
 * there is nothing to declare, nothing to nest and no entity bomb. DOCTYPE is refused before parsing anyway.
 * The parser does not call it for CDATA sections, whose text is literal.
 */
const entityDecoder = {
  setExternalEntities: () => {},
  addInputEntities: () => {},
  reset: () => {},
  setXmlVersion: () => {},
  decode: decodeEntities,
}

// parseTagValue: false keeps every leaf a string: MsgId is a 64-bit integer and loses precision as a
// JS number (6054768590064713728 → 6054768590064714000). STYLE.md §5.
const parser = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: true,
  processEntities: true,
  htmlEntities: false,
  entityDecoder,
  ignoreDeclaration: true,
  ignorePiTags: true,
  cdataPropName: false,
  commentPropName: false,
  maxNestedTags: 32,
  // The ordered tree is turned into plain objects by toValue below: the library's own conversion pushes every
  // element through its path matcher a second time (~12% of a callback) and needs a separate tree check.
  preserveOrder: true,
  // No callback of ours needs the element path as a string; building it per tag cost ~13% of a callback.
  jPath: false,
})

const FORBIDDEN_RE = /<!DOCTYPE|<!ENTITY/i
const CDATA_RE = /<!\[CDATA\[[\s\S]*?\]\]>/g

/** Text children of an element show up under this key in the ordered tree. */
const TEXT_KEY = '#text'
/** Element names that would reach an object's prototype if used as keys. */
const UNSAFE_KEYS = new Set(['__proto__', 'constructor', 'prototype'])

/** One element of the ordered tree: `{ [tagName]: children }` or `{ '#text': text }`. */
type OrderedNode = Record<string, unknown>

/**
 * An element's children as a value: its text (a string, '' when empty) when it has no child elements,
 * else an object of child name → value, a repeated child becoming an array. Mixed text and elements is
 * refused (WeChat never sends it), so every element is either a string or an object.
 */
const toValue = (children: OrderedNode[], path: string): string | Record<string, unknown> => {
  let text: string | undefined
  let obj: Record<string, unknown> | undefined
  for (const node of children) {
    for (const name in node) {
      if (name === ':@') continue
      if (name === TEXT_KEY) {
        text = (text ?? '') + String(node[name])
        break
      }
      if (UNSAFE_KEYS.has(name)) throw new BadXmlError(`element name <${name}> is not allowed`)
      const value = toValue(node[name] as OrderedNode[], `${path}.${name}`)
      obj ??= {}
      const prev = obj[name]
      if (prev === undefined) obj[name] = value
      else if (Array.isArray(prev)) prev.push(value)
      else obj[name] = [prev, value]
      break
    }
  }
  if (obj === undefined) return text ?? ''
  if (text !== undefined && text !== '') throw new BadXmlError(`mixed text and elements inside <${path}>`)
  return obj
}

/**
 * Parses a callback body (plaintext mode, compatible mode, the safe-mode envelope, or the decrypted
 * plaintext) and returns the children of the `<xml>` root. Leaves are strings ('' for empty elements);
 * nested elements are objects; a repeated element is an array (normalise with {@link asArray}).
 * Refuses, with BadXmlError: an empty body, any DOCTYPE or ENTITY declaration, XML that does not
 * validate, more than one root, or a root other than `xml`.
 * https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Receiving_standard_messages.html
 */
export const parseXml = (raw: string): Record<string, unknown> =>
  (typeof raw === 'string' ? readStrictXml(raw) : undefined) ?? parseXmlWithLibrary(raw)

/**
 * {@link parseXml} by fast-xml-parser alone: the reference of the strict reader (src/wechat/xml-strict.ts),
 * which reads WeChat's element-only subset itself and hands everything else, every bad document included, here.
 */
export const parseXmlWithLibrary = (raw: string): Record<string, unknown> => {
  if (typeof raw !== 'string' || raw.trim() === '') throw new BadXmlError('empty body')
  // Refused before anything else sees the text: no DTD, so no external or recursive entity can exist.
  // CDATA is what a user typed ("<!DOCTYPE html>" in a chat is a valid message), so only markup outside
  // CDATA sections is looked at; inside CDATA nothing is ever a declaration.
  // (The CDATA-stripped copy is only made when the raw text matches at all.)
  if (FORBIDDEN_RE.test(raw) && FORBIDDEN_RE.test(raw.replace(CDATA_RE, ''))) throw new BadXmlError('DOCTYPE and ENTITY declarations are not allowed')
  const valid = XMLValidator.validate(raw)
  if (valid !== true) {
    throw new BadXmlError(`malformed XML: ${valid.err.msg} (line ${valid.err.line}, column ${valid.err.col})`)
  }
  let doc: unknown
  try {
    doc = parser.parse(raw)
  } catch (cause) {
    // e.g. a tag named __proto__, refused by the parser as prototype pollution
    throw new BadXmlError('malformed XML', { cause })
  }
  if (!Array.isArray(doc)) throw new BadXmlError('not an XML document')
  // The validator accepts several top-level elements (and text around them); a document has one root.
  const top = doc as OrderedNode[]
  const root = top.length === 1 ? top[0]! : undefined
  if (!root || !Array.isArray(root.xml) || Object.keys(root).some((k) => k !== 'xml' && k !== ':@')) {
    throw new BadXmlError('the root element must be <xml>')
  }
  const value = toValue(root.xml as OrderedNode[], 'xml')
  if (value === '') return {}
  if (typeof value === 'string') throw new BadXmlError('the root element must be a single <xml> with child elements')
  return value
}

/** A repeated element parses as an array, a single one as a value, a missing one as undefined: always get an array. */
export const asArray = <T = unknown>(v: T | T[] | undefined | null): T[] =>
  v === undefined || v === null ? [] : Array.isArray(v) ? v : [v]

/**
 * Wraps text in CDATA. A CDATA section cannot contain `]]>`, so that sequence is split across two
 * sections (`]]` ends one, `>` starts the next); any reader joins them back into the original text.
 */
export const cdata = (s: string): string => `<![CDATA[${s.replaceAll(']]>', ']]]]><![CDATA[>')}]]>`
