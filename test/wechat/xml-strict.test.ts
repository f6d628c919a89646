/**
 * @module Differential tests of the strict XML reader (src/wechat/xml-strict.ts) against fast-xml-parser, its
 * reference (parseXmlWithLibrary): whatever the reader accepts, the library reads to the same value; everything
 * else the reader hands over. On every official sample, and on XML_FUZZ_DOCS (default 100,000) generated and
 * mutated documents from a seeded generator (XML_FUZZ_SEED to vary it; the seed is printed on a failure).
 */
import { describe, expect, test } from 'bun:test'
import { BadXmlError } from '../../src/lib/errors.ts'
import { readStrictXml } from '../../src/wechat/xml-strict.ts'
import { parseXml, parseXmlWithLibrary } from '../../src/wechat/xml.ts'
import vectors from '../fixtures/vectors.json'

type Outcome = { ok: true; value: string } | { ok: false; error: string }

const library = (raw: string): Outcome => {
  try {
    // JSON keeps the key order, so "the same value" includes the order of the fields.
    return { ok: true, value: JSON.stringify(parseXmlWithLibrary(raw)) }
  } catch (e) {
    if (!(e instanceof BadXmlError)) throw new Error(`the library threw something other than BadXmlError for ${JSON.stringify(raw)}`, { cause: e })
    return { ok: false, error: e.message }
  }
}

const viaParseXml = (raw: string): Outcome => {
  try {
    return { ok: true, value: JSON.stringify(parseXml(raw)) }
  } catch (e) {
    if (!(e instanceof BadXmlError)) throw e
    return { ok: false, error: e.message }
  }
}

/** mulberry32: small, seeded, good enough to spread the cases. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = seed
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const NAMES = ['ToUserName', 'FromUserName', 'CreateTime', 'MsgType', 'Content', 'MsgId', 'Event', 'EventKey', 'A', 'b', 'x1', '_u', 'a.b', 'a-b', 'item', 'List',
  'xml', 'Xml', 'a:b', '中文', 'constructor', '__proto__', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__', 'isPrototypeOf', 'toLocaleString', '1a', '-a', '#text', ':@']
/** What WeChat's text and CDATA hold, then the edges (most of them handed over to the library). */
const TEXT_COMMON = ['hello', 'this is a test', '1348831860', '6054768590064713728', ' ', '  ', '\n', '\t', '你好', '👋🏽', '，', '\u00a0', '\u3000', '\ufeff',
  '&lt;', '&gt;', '&amp;', '&quot;', '&apos;', '&#20320;', '&#x597D;', '&#32;', '&#x20;', '&#9;', '&#10;', '>', '"', "'", '=', '/', ';', '\u007f', '\u0085', '\u2028']
const TEXT_EDGE = ['\r', '\r\n', '&#13;', '&#0;', '&#1;', '&#xD800;', '&#1114112;', '&#x110000;', '&amp;lt;', '&nbsp;', '&copy;', '&', '&;', '&#;', '&#x;', '&#12345678;',
  ']]>', ']]', '\u0000', '\u0001', '\u001f']
const CDATA_COMMON = ['text', ' ', '\n', '\t', '<b>', '&amp;', '&', ']]', ']', '<![CDATA[', '<!DOCTYPE html>', '<!ENTITY x "y">', '你好', '</xml>', '<xml>', '\u2028']
const CDATA_EDGE = ['\r', '\r\n', '\u0000', '\u0001', '\u001f']

const pick = <T>(rnd: () => number, xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!
const ws = (rnd: () => number) => (rnd() < 0.6 ? '' : pick(rnd, ['', ' ', '\n', '\n  ', '\t', '\r\n', ' \n ']))

const genText = (rnd: () => number): string => {
  let s = ''
  const n = Math.floor(rnd() * 4)
  for (let i = 0; i < n; i++) s += pick(rnd, rnd() < 0.97 ? TEXT_COMMON : TEXT_EDGE)
  return s
}

const genCdata = (rnd: () => number): string => {
  let s = ''
  const n = Math.floor(rnd() * 3)
  for (let i = 0; i < n; i++) s += pick(rnd, rnd() < 0.98 ? CDATA_COMMON : CDATA_EDGE)
  return `<![CDATA[${s}]]>`
}

/** An element's content: a leaf (text and CDATA runs) or children, mostly shaped like WeChat's. */
const genContent = (rnd: () => number, depth: number): string => {
  const r = rnd()
  if (depth < 4 && r < 0.3) {
    let s = ''
    const n = 1 + Math.floor(rnd() * 4)
    for (let i = 0; i < n; i++) s += ws(rnd) + genElement(rnd, depth + 1)
    return s + ws(rnd)
  }
  if (r < 0.55) return genCdata(rnd)
  if (r < 0.85) return genText(rnd)
  // mixed: text and CDATA runs
  let s = ''
  const n = 1 + Math.floor(rnd() * 3)
  for (let i = 0; i < n; i++) s += rnd() < 0.5 ? genText(rnd) : genCdata(rnd)
  return s
}

const genElement = (rnd: () => number, depth: number): string => {
  const name = rnd() < 0.97 ? pick(rnd, NAMES.slice(0, 16)) : pick(rnd, NAMES)
  if (rnd() < 0.05) return `<${name}/>`
  return `<${name}>${genContent(rnd, depth)}</${name}>`
}

const genDocument = (rnd: () => number): string => {
  let body = ''
  const n = Math.floor(rnd() * 8)
  for (let i = 0; i < n; i++) body += ws(rnd) + genElement(rnd, 1)
  return ws(rnd) + `<xml>${body}${ws(rnd)}</xml>` + ws(rnd)
}

const INSERTS = ['<', '>', '/', '&', ';', '=', '"', ' ', '\n', '\r', '\r\n', '\t', 'a', 'Z', '<A>', '</A>', '<A/>', '<A >', '</A >', '< A>', '<A id="1">',
  '<!-- c -->', '<!--', '-->', '<![CDATA[', ']]>', '<![CDATA[x]]>', '<?xml version="1.0"?>', '<?pi x?>', '<!DOCTYPE x>', '<!ENTITY x "y">', '<!doctype x>',
  '&amp;', '&#x41;', '&#0;', '&bogus;', '&lt', '\u0000', '\u00a0', '\ufeff', '你', '__proto__', '<xml>', '</xml>', '<xml/>', ':', '<a:b>', '</a:b>']

const mutate = (rnd: () => number, doc: string): string => {
  let s = doc
  const edits = 1 + Math.floor(rnd() * 3)
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(rnd() * (s.length + 1))
    const kind = rnd()
    if (kind < 0.35) s = s.slice(0, at) + pick(rnd, INSERTS) + s.slice(at)
    else if (kind < 0.6) s = s.slice(0, at) + s.slice(at + 1 + Math.floor(rnd() * 6))
    else if (kind < 0.75) s = s.slice(0, at) + pick(rnd, INSERTS) + s.slice(at + 1)
    else if (kind < 0.88) {
      const from = Math.floor(rnd() * s.length)
      s = s.slice(0, at) + s.slice(from, from + 1 + Math.floor(rnd() * 20)) + s.slice(at)
    } else s = s.slice(0, at)
  }
  return s
}

const SAMPLES = Object.entries(vectors.samples as Record<string, string>)

describe('the strict reader against fast-xml-parser', () => {
  test('every official sample: the inbound ones are read by the strict reader, to the library\'s value', () => {
    let strict = 0
    for (const [name, raw] of SAMPLES) {
      const fast = readStrictXml(raw)
      const lib = library(raw)
      if (fast !== undefined) {
        strict++
        expect({ name, outcome: { ok: true, value: JSON.stringify(fast) } as Outcome }).toEqual({ name, outcome: lib })
      }
      const inbound = !name.startsWith('reply_') && name !== 'encrypted_reply_envelope' && name !== 'safe_mode_post_body'
      // WeChat's own documents are the whole point: each one must take the fast path.
      if (inbound) expect({ name, strict: fast !== undefined }).toEqual({ name, strict: true })
    }
    expect(strict).toBeGreaterThanOrEqual(20)
  })

  test('every refused document of xml.test.ts is handed to the library', () => {
    const refused = ['', ' \n\t', 'success', '{"ToUserName":"gh_1"}', '<!DOCTYPE xml><xml><A>1</A></xml>', '<xml><A>1</A><!ENTITY x "y"></xml>', '<xml><A>1</xml>',
      '<xml><A>1</B></xml>', '<xml><A>1</A>', '<root><A>1</A></root>', '<xml><A>1</A></xml><xml><A>2</A></xml>', '<xml>hello</xml>', '<xml>hello<A>1</A></xml>',
      '<xml><A>t<B>1</B></A></xml>', '<xml><constructor>x</constructor></xml>', '<xml><__proto__><polluted>1</polluted></__proto__></xml>',
      '<xml><A><![CDATA[x]]></A></xml><!DOCTYPE xml>', (vectors.samples as Record<string, string>).text!.slice(0, 80)]
    for (const raw of refused) {
      expect({ raw, strict: readStrictXml(raw) }).toEqual({ raw, strict: undefined })
      expect(library(raw).ok).toBe(false)
    }
  })

  const count = Number(process.env.XML_FUZZ_DOCS ?? 100_000)
  const seed = Number(process.env.XML_FUZZ_SEED ?? 20261202)

  test(`${count} generated and mutated documents (seed ${seed}): the strict reader never disagrees with the library`, () => {
    const rnd = prng(seed)
    const stats = { strict: 0, handedOver: 0, libraryRefused: 0, handedOverAccepted: 0 }
    const disagreements: { doc: string; fast: string; lib: Outcome }[] = []
    for (let n = 0; n < count; n++) {
      const r = rnd()
      const doc = r < 0.5 ? genDocument(rnd) : r < 0.75 ? mutate(rnd, genDocument(rnd)) : mutate(rnd, pick(rnd, SAMPLES)[1])
      const fast = readStrictXml(doc)
      const lib = library(doc)
      if (!lib.ok) stats.libraryRefused++
      if (fast === undefined) {
        stats.handedOver++
        if (lib.ok) stats.handedOverAccepted++
        if (lib.ok && process.env.XML_FUZZ_SHOW && r < 0.5 && Math.random() < 0.001) console.log('handed over, library accepts:', JSON.stringify(doc))
        // And what callers get (parseXml) is exactly the library's answer, its error message included.
        if (n % 10 === 0) expect(viaParseXml(doc)).toEqual(lib)
        continue
      }
      stats.strict++
      const value = JSON.stringify(fast)
      if (!lib.ok || lib.value !== value) disagreements.push({ doc, fast: value, lib })
      if (disagreements.length >= 5) break
    }
    console.log(`xml fuzz, seed ${seed}: ${JSON.stringify(stats)}`)
    if (disagreements.length) console.error(`seed ${seed}:`, JSON.stringify(disagreements, null, 1))
    expect(disagreements).toEqual([])
    // The generator reaches both sides: documents the reader takes, documents it hands over, documents refused.
    expect(stats.strict).toBeGreaterThan(count * 0.2)
    expect(stats.handedOver).toBeGreaterThan(count * 0.2)
    expect(stats.libraryRefused).toBeGreaterThan(count * 0.1)
  }, 120_000)
})
