/** @module WeChat message encryption (compatible and safe mode): AES-256-CBC, IV = first 16 key bytes,
 * PKCS#7 padding to 32-byte blocks, plaintext = random(16) + uint32be(len) + msg + appid.
 * https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Message_encryption_and_decryption_instructions.html
 */
import { createCipheriv, createDecipheriv } from 'node:crypto'
import { AppIdMismatchError, DecryptError, InvalidAesKeyError } from '../lib/errors.ts'
import { msgSignature } from './signature.ts'
import { cdata } from './xml.ts'

const AES_KEY_RE = /^[A-Za-z0-9]{43}$/
// Canonical standard base64 with `=` padding: no URL-safe alphabet, no whitespace, no missing padding.
const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
// WeChat pads to K=32, not the AES block size: the pad byte is 1..32 (vectors have 19, 21, 30).
const PAD_BLOCK = 32
const RANDOM_LEN = 16
const LEN_FIELD = 4
const utf8Strict = new TextDecoder('utf-8', { fatal: true })

/** True when `k` is a well-formed EncodingAESKey: 43 characters of [A-Za-z0-9] that decode to 32 bytes. */
export const isValidEncodingAesKey = (k: string): boolean =>
  typeof k === 'string' && AES_KEY_RE.test(k) && Buffer.from(`${k}=`, 'base64').length === 32

/**
 * AESKey = Base64_Decode(EncodingAESKey + "="), 32 bytes (official Technical Plan, §2.2 of PROTOCOL.md).
 * https://developers.weixin.qq.com/doc/oplatform/Third-party_Platforms/2.0/api/Before_Develop/Technical_Plan.html
 */
export const aesKeyFrom = (encodingAesKey: string): Buffer => {
  if (typeof encodingAesKey !== 'string' || !AES_KEY_RE.test(encodingAesKey)) throw new InvalidAesKeyError()
  const key = Buffer.from(`${encodingAesKey}=`, 'base64')
  if (key.length !== 32) throw new InvalidAesKeyError()
  return key
}

// A key that is not 32 bytes is a programming error (aesKeyFrom never returns one), not bad input.
const checkKey = (key: Buffer): void => {
  if (!Buffer.isBuffer(key) || key.length !== 32) throw new InvalidAesKeyError('the AES key must be 32 bytes (use aesKeyFrom)')
}

/**
 * Decrypts an `Encrypt` value and checks the AppID at its end. Verify `msg_signature` first: it is what
 * authenticates the ciphertext (this function alone would be a padding oracle).
 * Throws AppIdMismatchError when the trailing AppID is not `appId`, DecryptError for anything else
 * (bad base64, a length that is not whole AES blocks, bad padding, a length field that does not fit,
 * invalid UTF-8) — never a raw crypto exception.
 */
export const decrypt = (encrypt: string, key: Buffer, appId: string): { xml: string; random: Buffer } => {
  checkKey(key)
  if (typeof encrypt !== 'string' || encrypt.length === 0 || encrypt.length % 4 !== 0 || !BASE64_RE.test(encrypt)) {
    throw new DecryptError('Encrypt is not valid base64')
  }
  const cipherBytes = Buffer.from(encrypt, 'base64')
  // Node ignores stray bits in the last character; a canonical re-encoding must give the input back.
  if (cipherBytes.toString('base64') !== encrypt) throw new DecryptError('Encrypt is not canonical base64')
  // Smallest possible message: 16 random + 4 length bytes + empty msg + empty appid, padded to 32.
  if (cipherBytes.length < PAD_BLOCK || cipherBytes.length % 16 !== 0) {
    throw new DecryptError(`ciphertext of ${cipherBytes.length} bytes is not whole AES blocks`)
  }

  let plain: Buffer
  try {
    const decipher = createDecipheriv('aes-256-cbc', key, key.subarray(0, 16))
    // OpenSSL's PKCS#7 stops at 16; WeChat pads up to 32, so the padding is removed by hand below.
    decipher.setAutoPadding(false)
    plain = Buffer.concat([decipher.update(cipherBytes), decipher.final()])
  } catch (cause) {
    throw new DecryptError('cannot decrypt message', { cause })
  }

  const pad = plain[plain.length - 1] ?? 0
  if (pad < 1 || pad > PAD_BLOCK || pad > plain.length) throw new DecryptError('bad padding')
  for (let i = plain.length - pad; i < plain.length; i++) {
    if (plain[i] !== pad) throw new DecryptError('bad padding')
  }
  const content = plain.subarray(0, plain.length - pad)
  if (content.length < RANDOM_LEN + LEN_FIELD) throw new DecryptError('decrypted message too short')

  const msgLen = content.readUInt32BE(RANDOM_LEN)
  const msgStart = RANDOM_LEN + LEN_FIELD
  if (msgLen > content.length - msgStart) throw new DecryptError('message length field does not fit')

  let xml: string
  let trailingId: string
  try {
    xml = utf8Strict.decode(content.subarray(msgStart, msgStart + msgLen))
    trailingId = utf8Strict.decode(content.subarray(msgStart + msgLen))
  } catch (cause) {
    throw new DecryptError('decrypted message is not UTF-8', { cause })
  }
  // The AppID is public (it is in every URL the account shares), so a plain comparison is fine here.
  if (trailingId !== appId) throw new AppIdMismatchError()
  return { xml, random: Buffer.from(content.subarray(0, RANDOM_LEN)) }
}

/**
 * Encrypts `plain` for WeChat. `random16` are the 16 random bytes (injected so vectors can test this
 * code); msg_len is the UTF-8 byte length (WxJava vector: "我是中文abcd123" → 19).
 */
export const encrypt = (plain: string, key: Buffer, appId: string, random16: Uint8Array): string => {
  checkKey(key)
  if (!(random16 instanceof Uint8Array) || random16.length !== RANDOM_LEN) {
    throw new RangeError(`random16 must be exactly ${RANDOM_LEN} bytes`)
  }
  const msg = Buffer.from(plain, 'utf8')
  const len = Buffer.alloc(LEN_FIELD)
  len.writeUInt32BE(msg.length, 0)
  const body = Buffer.concat([random16, len, msg, Buffer.from(appId, 'utf8')])
  const pad = PAD_BLOCK - (body.length % PAD_BLOCK) // 1..32; a full block of 0x20 when already aligned
  const padded = Buffer.concat([body, Buffer.alloc(pad, pad)])
  const cipher = createCipheriv('aes-256-cbc', key, key.subarray(0, 16))
  cipher.setAutoPadding(false)
  return Buffer.concat([cipher.update(padded), cipher.final()]).toString('base64')
}

/**
 * The encrypted passive reply for safe mode: Encrypt, its msg_signature over (token, timestamp, nonce,
 * Encrypt), TimeStamp and Nonce (WeChat says to echo the URL's nonce). An empty body or `success`
 * needs no envelope. https://developers.weixin.qq.com/miniprogram/dev/framework/server-ability/message-push.html
 */
export const encryptReply = (p: {
  plainXml: string
  token: string
  key: Buffer
  appId: string
  timestamp: string
  nonce: string
  random16: Uint8Array
}): string => {
  // TimeStamp is written without CDATA, so it must be digits; the nonce comes from the URL and goes into CDATA.
  if (!/^\d+$/.test(p.timestamp)) throw new RangeError('timestamp must be decimal digits')
  const enc = encrypt(p.plainXml, p.key, p.appId, p.random16)
  const sig = msgSignature({ token: p.token, timestamp: p.timestamp, nonce: p.nonce, encrypt: enc })
  return (
    `<xml><Encrypt>${cdata(enc)}</Encrypt><MsgSignature>${cdata(sig)}</MsgSignature>` +
    `<TimeStamp>${p.timestamp}</TimeStamp><Nonce>${cdata(p.nonce)}</Nonce></xml>`
  )
}
