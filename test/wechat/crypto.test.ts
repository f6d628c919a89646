/** @module Tests for src/wechat/crypto.ts: every AES vector in vectors.json, plus tampering and round trips. */
import { describe, expect, test } from 'bun:test'
import { createCipheriv } from 'node:crypto'
import { AppIdMismatchError, DecryptError, InvalidAesKeyError } from '../../src/lib/errors.ts'
import { aesKeyFrom, decrypt, encrypt, encryptReply, isValidEncodingAesKey } from '../../src/wechat/crypto.ts'
import { parseMessage } from '../../src/wechat/messages.ts'
import { msgSignature, verifyMsgSignature } from '../../src/wechat/signature.ts'
import { parseXml } from '../../src/wechat/xml.ts'
import vectors from '../fixtures/vectors.json'

const ascii = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'))
const keyA = aesKeyFrom('abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG')
const fixedRandom = ascii('0123456789abcdef')

/** Runs fn and returns what it threw (so a test can check the class and that it is not a raw crypto error). */
const thrown = (fn: () => unknown): unknown => {
  try {
    fn()
  } catch (e) {
    return e
  }
  throw new Error('expected a throw')
}

describe('aesKeyFrom / isValidEncodingAesKey', () => {
  test('43 characters decode to the 32-byte key', () => {
    const key = aesKeyFrom('AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')
    expect(key.length).toBe(32)
    expect(key.equals(Buffer.alloc(32, 0))).toBe(true)
    // expected value from Python: base64.b64decode('abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG=').hex()
    expect(keyA.toString('hex')).toBe('69b71d79f8218a39259a7a29aabb2dbafc31cb3d35db7e39ebbf3d0010831051')
    expect(isValidEncodingAesKey('abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG')).toBe(true)
  })

  for (const bad of ['', 'abc', 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEF', 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH', 'abcdefghijklmnopqrstuvwxyz0123456789ABCDE+G', 'abcdefghijklmnopqrstuvwxyz0123456789ABCDE G']) {
    test(`refuses ${JSON.stringify(bad)}`, () => {
      expect(isValidEncodingAesKey(bad)).toBe(false)
      expect(thrown(() => aesKeyFrom(bad))).toBeInstanceOf(InvalidAesKeyError)
    })
  }
})

describe('official and SDK AES vectors', () => {
  for (const v of vectors.aes) {
    test(`${v.msgSignature.slice(0, 8)}… (${v.source.slice(0, 40)}…)`, () => {
      const key = aesKeyFrom(v.encodingAESKey)
      expect(verifyMsgSignature(v)).toBe(true)

      const out = decrypt(v.encrypt, key, v.appId)
      expect(out.xml).toBe(v.plainXml)
      expect(Buffer.byteLength(out.xml, 'utf8')).toBe(v.msgLenBytes)
      expect(out.random.toString('latin1')).toBe(v.random16)
      expect(Buffer.from(v.encrypt, 'base64').length).toBe(v.ciphertextBytes)

      if (v.verified.reEncryptMatches === true) {
        expect(encrypt(v.plainXml, key, v.appId, ascii(v.random16))).toBe(v.encrypt)
      }
      if ('sourceAssertions' in v && v.sourceAssertions) {
        // Vector A (compatible mode): the source only shows the plaintext copies of the fields.
        expect(parseXml(out.xml)).toEqual(v.sourceAssertions)
      }
    })
  }

  test('vector A: the plaintext inside Encrypt equals the plaintext fields of the compat-mode body', () => {
    const v = vectors.aes[0]!
    const body = parseXml(vectors.samples.compat_mode_post_body)
    expect(body.Encrypt).toBe(v.encrypt)
    const inner = parseXml(decrypt(body.Encrypt as string, aesKeyFrom(v.encodingAESKey), v.appId).xml)
    const { Encrypt: _ignored, ...outer } = body
    expect(inner).toEqual(outer)
    const m = parseMessage(inner)
    expect(m.kind).toBe('text')
    expect(m.kind === 'text' && m.msgId).toBe('6054768590064713728')
  })

  for (const v of vectors.aesEncryptOnly) {
    test(`encrypt-only ${v.note}`, () => {
      const key = aesKeyFrom(v.encodingAESKey)
      expect(encrypt(v.plain, key, v.appId, ascii(v.random16))).toBe(v.encrypt)
      expect(decrypt(v.encrypt, key, v.appId).xml).toBe(v.plain)
    })
  }

  test('safe-mode body from easywechat EncryptorTest decrypts (token pamtest, msg_signature 4f3ad57b…)', () => {
    const body = parseXml(vectors.samples.safe_mode_post_body)
    const encrypted = body.Encrypt as string
    expect(msgSignature({ token: 'pamtest', timestamp: '1458300676', nonce: '260774613', encrypt: encrypted })).toBe(
      '4f3ad57b6989f09f4eb392acce4f9e93942ed890',
    )
    const m = parseMessage(parseXml(decrypt(encrypted, keyA, 'wxb11529c136998cb6').xml))
    expect(m).toMatchObject({ kind: 'text', content: 'hello', msgId: '12345', toUserName: 'asdasdasd', createTime: 1234567898 })
  })

  test('WeCom echostr vector (wechatpy test_check_signature_should_ok) decrypts to its stated value', () => {
    const v = vectors.msgSignature[1]!
    const key = aesKeyFrom('kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR') // wechatpy tests/test_crypto.py
    expect(decrypt(v.encrypt, key, 'wx49f0ab532d5d035a').xml).toBe('5927782489442352469')
  })
})

describe('encryptReply', () => {
  test('reproduces wechatpy test_encrypt_message (samples.encrypted_reply_envelope)', () => {
    // Plaintext, token, key, id and random from wechatpy tests/test_crypto.py. The sample puts a newline
    // between elements; we write the compact form, so compare after removing whitespace between tags.
    const plainXml =
      '<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n' +
      '<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n<ToUserName><![CDATA[messense]]></ToUserName>\n' +
      '<AgentID>1</AgentID>\n<CreateTime>1411525903</CreateTime>\n</xml>'
    const out = encryptReply({
      plainXml,
      token: '123456',
      key: aesKeyFrom('kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR'),
      appId: 'wx49f0ab532d5d035a',
      timestamp: '1411525903',
      nonce: '461056294',
      random16: ascii('1234567890123456'),
    })
    expect(out).toBe(vectors.samples.encrypted_reply_envelope.replace(/>\s+</g, '><').trim())
  })

  test('round trip: the envelope verifies and decrypts to the reply', () => {
    const v = vectors.aes[2]! // official encrypted-reply example
    const key = aesKeyFrom(v.encodingAESKey)
    const out = encryptReply({ plainXml: v.plainXml, token: v.token, key, appId: v.appId, timestamp: v.timestamp, nonce: v.nonce, random16: ascii(v.random16) })
    const env = parseXml(out)
    expect(env).toEqual({ Encrypt: v.encrypt, MsgSignature: v.msgSignature, TimeStamp: v.timestamp, Nonce: v.nonce })
    expect(verifyMsgSignature({ token: v.token, timestamp: v.timestamp, nonce: v.nonce, encrypt: v.encrypt, msgSignature: v.msgSignature })).toBe(true)
    expect(decrypt(env.Encrypt as string, key, v.appId).xml).toBe(v.plainXml)
  })

  test('a nonce containing "]]>" cannot break out of its CDATA', () => {
    const out = encryptReply({ plainXml: '<xml/>', token: 't', key: keyA, appId: 'wx1', timestamp: '1', nonce: 'a]]><x>b', random16: fixedRandom })
    const env = parseXml(out)
    expect(env.Nonce).toBe('a]]><x>b')
    expect(env.MsgSignature).toBe(msgSignature({ token: 't', timestamp: '1', nonce: 'a]]><x>b', encrypt: env.Encrypt as string }))
  })

  test('refuses a non-numeric timestamp', () => {
    expect(() => encryptReply({ plainXml: '<xml/>', token: 't', key: keyA, appId: 'wx1', timestamp: '1<', nonce: 'n', random16: fixedRandom })).toThrow(RangeError)
  })
})

describe('encrypt', () => {
  test('CJK and emoji round trip; msg_len counts UTF-8 bytes', () => {
    const plain = '<xml><Content><![CDATA[你好，世界 👋🏽 テスト 한국어]]></Content></xml>'
    const enc = encrypt(plain, keyA, 'wx2c2769f8efd9abc2', fixedRandom)
    const out = decrypt(enc, keyA, 'wx2c2769f8efd9abc2')
    expect(out.xml).toBe(plain)
    expect(out.random.equals(Buffer.from(fixedRandom))).toBe(true)
    // 16 random + 4 length + bytes + 18 appid, padded to a multiple of 32
    const n = 16 + 4 + Buffer.byteLength(plain, 'utf8') + 18
    expect(Buffer.from(enc, 'base64').length).toBe(Math.ceil((n + 1) / 32) * 32)
  })

  test('a plaintext that fills whole 32-byte blocks gets a full block of padding (0x20 × 32)', () => {
    // 16 + 4 + 10 + 2 = 32 bytes: exactly one block before padding
    const enc = encrypt('0123456789', keyA, 'wx', fixedRandom)
    expect(Buffer.from(enc, 'base64').length).toBe(64)
    expect(decrypt(enc, keyA, 'wx').xml).toBe('0123456789')
  })

  test('empty message round trip', () => {
    expect(decrypt(encrypt('', keyA, 'wx1', fixedRandom), keyA, 'wx1').xml).toBe('')
  })

  test('random16 must be exactly 16 bytes', () => {
    expect(() => encrypt('x', keyA, 'wx1', new Uint8Array(15))).toThrow(RangeError)
    expect(() => encrypt('x', keyA, 'wx1', new Uint8Array(17))).toThrow(RangeError)
  })

  test('a key that is not 32 bytes is refused', () => {
    expect(thrown(() => encrypt('x', Buffer.alloc(16), 'wx1', fixedRandom))).toBeInstanceOf(InvalidAesKeyError)
    expect(thrown(() => decrypt(vectors.aes[0]!.encrypt, Buffer.alloc(16), 'wx1'))).toBeInstanceOf(InvalidAesKeyError)
  })
})

describe('decrypt failures', () => {
  const v = vectors.aes[1]! // official safe-mode inbound example
  const key = aesKeyFrom(v.encodingAESKey)
  const bytes = (): Buffer => Buffer.from(v.encrypt, 'base64')

  test('wrong AppID → AppIdMismatchError', () => {
    const e = thrown(() => decrypt(v.encrypt, key, 'wx0000000000000000'))
    expect(e).toBeInstanceOf(AppIdMismatchError)
    expect((e as AppIdMismatchError).code).toBe('appid_mismatch')
  })

  test('AppID prefix or extension does not match', () => {
    expect(thrown(() => decrypt(v.encrypt, key, v.appId.slice(0, -1)))).toBeInstanceOf(AppIdMismatchError)
    expect(thrown(() => decrypt(v.encrypt, key, `${v.appId}x`))).toBeInstanceOf(AppIdMismatchError)
  })

  const decryptErrors: [string, () => string][] = [
    ['empty', () => ''],
    ['truncated base64 (last 4 characters dropped)', () => v.encrypt.slice(0, -4)],
    ['odd-length base64', () => v.encrypt.slice(0, -1)],
    ['URL-safe alphabet', () => v.encrypt.replaceAll('+', '-').replaceAll('/', '_')],
    ['whitespace inside', () => `${v.encrypt.slice(0, 8)}\n${v.encrypt.slice(8)}`],
    ['not a multiple of 16 bytes', () => bytes().subarray(0, 100).toString('base64')],
    ['one block only', () => bytes().subarray(0, 16).toString('base64')],
    ['last block dropped (whole blocks, padding gone)', () => bytes().subarray(0, bytes().length - 16).toString('base64')],
    ['non-canonical base64 (stray low bits)', () => `${v.encrypt.slice(0, -2)}B=`],
  ]
  for (const [name, make] of decryptErrors) {
    test(`${name} → DecryptError`, () => {
      const input = make()
      const e = thrown(() => decrypt(input, key, v.appId))
      expect(e).toBeInstanceOf(DecryptError)
      expect((e as DecryptError).code).toBe('decrypt_failed')
    })
  }

  test('bit flipped in the last ciphertext block → DecryptError', () => {
    const b = bytes()
    b[b.length - 1] = b[b.length - 1]! ^ 0x01
    expect(thrown(() => decrypt(b.toString('base64'), key, v.appId))).toBeInstanceOf(DecryptError)
  })

  test('bit flipped so that the pad byte changes (CBC flips the same bit one block later) → DecryptError', () => {
    const b = bytes()
    const i = b.length - 17 // last byte of the second-to-last block ↔ pad byte of the last block
    b[i] = b[i]! ^ 0x04
    expect(thrown(() => decrypt(b.toString('base64'), key, v.appId))).toBeInstanceOf(DecryptError)
  })

  test('wrong key → DecryptError, not a raw crypto error', () => {
    const e = thrown(() => decrypt(v.encrypt, keyA, v.appId))
    expect(e).toBeInstanceOf(DecryptError)
    const e2 = thrown(() => decrypt(vectors.aes[0]!.encrypt, key, vectors.aes[0]!.appId))
    expect(e2).toBeInstanceOf(DecryptError)
  })

  /** Encrypts hand-made plaintext bytes (already padded) so a test can break one field at a time. */
  const rawEncrypt = (plain: Buffer): string => {
    const c = createCipheriv('aes-256-cbc', keyA, keyA.subarray(0, 16)).setAutoPadding(false)
    return Buffer.concat([c.update(plain), c.final()]).toString('base64')
  }

  test('a length field larger than the message → DecryptError', () => {
    // msg_len = 256 but only 5 bytes of message follow.
    const body = Buffer.concat([Buffer.from(fixedRandom), Buffer.from([0, 0, 1, 0]), Buffer.from('short'), Buffer.from('wx1')])
    const pad = 32 - (body.length % 32)
    const enc = rawEncrypt(Buffer.concat([body, Buffer.alloc(pad, pad)]))
    expect(thrown(() => decrypt(enc, keyA, 'wx1'))).toBeInstanceOf(DecryptError)
  })

  test('padding bytes that disagree → DecryptError', () => {
    const body = Buffer.concat([Buffer.from(fixedRandom), Buffer.from([0, 0, 0, 2]), Buffer.from('ok'), Buffer.from('wx1')])
    const pad = 32 - (body.length % 32) // 7
    const padding = Buffer.alloc(pad, pad)
    padding[0] = 1
    const enc = rawEncrypt(Buffer.concat([body, padding]))
    expect(thrown(() => decrypt(enc, keyA, 'wx1'))).toBeInstanceOf(DecryptError)
    // the same plaintext with correct padding decrypts, so it is the padding that was refused
    expect(decrypt(rawEncrypt(Buffer.concat([body, Buffer.alloc(pad, pad)])), keyA, 'wx1').xml).toBe('ok')
  })

  test('a pad byte of 0 or above 32 → DecryptError', () => {
    const body = Buffer.concat([Buffer.from(fixedRandom), Buffer.from([0, 0, 0, 2]), Buffer.from('ok'), Buffer.from('wx1')]) // 25 bytes
    expect(thrown(() => decrypt(rawEncrypt(Buffer.concat([body, Buffer.alloc(7, 0)])), keyA, 'wx1'))).toBeInstanceOf(DecryptError)
    expect(thrown(() => decrypt(rawEncrypt(Buffer.concat([body, Buffer.alloc(39, 39)])), keyA, 'wx1'))).toBeInstanceOf(DecryptError)
  })

  test('invalid UTF-8 in the message → DecryptError', () => {
    const body = Buffer.concat([Buffer.from(fixedRandom), Buffer.from([0, 0, 0, 2]), Buffer.from([0xff, 0xfe]), Buffer.from('wx1')])
    const enc = rawEncrypt(Buffer.concat([body, Buffer.alloc(7, 7)]))
    expect(thrown(() => decrypt(enc, keyA, 'wx1'))).toBeInstanceOf(DecryptError)
  })
})
