/** @module Tests for src/wechat/signature.ts against the official and SDK vectors in vectors.json. */
import { describe, expect, test } from 'bun:test'
import { msgSignature, safeEqual, sha1Signature, verifyMsgSignature, verifySignature } from '../../src/wechat/signature.ts'
import vectors from '../fixtures/vectors.json'

describe('sha1Signature', () => {
  test('sorts by string value before hashing (official GET example)', () => {
    // The doc spells the intermediate string: "15147114921714036504AAAAA".
    expect(sha1Signature(['AAAAA', '1714036504', '1514711492'])).toBe('f464b24fc39322e44b38aa78f5edd27bd1441696')
    expect(sha1Signature(['15147114921714036504AAAAA'])).toBe('f464b24fc39322e44b38aa78f5edd27bd1441696')
  })

  test('sorts as strings, not numbers: "10" < "9"', () => {
    expect(sha1Signature(['9', '10'])).toBe(sha1Signature(['109']))
  })

  test('does not mutate its argument', () => {
    const parts = ['c', 'b', 'a']
    expect(sha1Signature(parts)).toBe('a9993e364706816aba3e25717850c26c9cd0d89d')
    expect(parts).toEqual(['c', 'b', 'a'])
  })
})

describe('verifySignature (3 elements)', () => {
  for (const v of vectors.signature) {
    test(`${v.kind}: ${v.token}/${v.timestamp}/${v.nonce}`, () => {
      expect(sha1Signature([v.token, v.timestamp, v.nonce])).toBe(v.signature)
      expect(verifySignature({ token: v.token, timestamp: v.timestamp, nonce: v.nonce, signature: v.signature })).toBe(true)
    })
  }

  test('rejects a wrong token, a changed nonce, an upper-cased or truncated signature', () => {
    const v = vectors.signature[0]!
    expect(verifySignature({ token: 'AAAAB', timestamp: v.timestamp, nonce: v.nonce, signature: v.signature })).toBe(false)
    expect(verifySignature({ token: v.token, timestamp: v.timestamp, nonce: '1514711493', signature: v.signature })).toBe(false)
    expect(verifySignature({ token: v.token, timestamp: v.timestamp, nonce: v.nonce, signature: v.signature.toUpperCase() })).toBe(false)
    expect(verifySignature({ token: v.token, timestamp: v.timestamp, nonce: v.nonce, signature: v.signature.slice(0, 39) })).toBe(false)
    expect(verifySignature({ token: v.token, timestamp: v.timestamp, nonce: v.nonce, signature: '' })).toBe(false)
  })

  test('a missing query parameter (undefined at run time) verifies false instead of throwing', () => {
    const v = vectors.signature[0]!
    const p = { token: v.token, timestamp: v.timestamp, nonce: v.nonce, signature: undefined as unknown as string }
    expect(verifySignature(p)).toBe(false)
  })
})

describe('msgSignature (4 elements)', () => {
  for (const v of vectors.msgSignature) {
    test(`${v.source.split(' ')[0]}: ${v.msgSignature.slice(0, 8)}…`, () => {
      expect(msgSignature(v)).toBe(v.msgSignature)
      expect(verifyMsgSignature(v)).toBe(true)
      expect(verifyMsgSignature({ ...v, encrypt: `${v.encrypt}x` })).toBe(false)
    })
  }

  for (const v of vectors.aes) {
    test(`AES vector ${v.msgSignature.slice(0, 8)}…`, () => {
      expect(msgSignature(v)).toBe(v.msgSignature)
      expect(verifyMsgSignature(v)).toBe(true)
      // The 3-element signature over the same values is a different thing.
      expect(verifySignature({ ...v, signature: v.msgSignature })).toBe(false)
    })
  }
})

describe('safeEqual', () => {
  test('equal, different, different length, multi-byte', () => {
    expect(safeEqual('abc', 'abc')).toBe(true)
    expect(safeEqual('abc', 'abd')).toBe(false)
    expect(safeEqual('abc', 'abcd')).toBe(false)
    expect(safeEqual('', '')).toBe(true)
    expect(safeEqual('中文', '中文')).toBe(true)
    // same UTF-16 length, different UTF-8 byte length: must not throw
    expect(safeEqual('é', 'e')).toBe(false)
  })
})
