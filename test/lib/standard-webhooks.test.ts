import { describe, expect, test } from 'bun:test'
import { Webhook } from 'standardwebhooks'
import { isWebhookSecret, newWebhookSecret, sign, signatureHeader } from '../../src/lib/standard-webhooks'

describe('Standard Webhooks signatures (PROTOCOL §9.1)', () => {
  test('the published vector', () => {
    expect(sign('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}'))
      .toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=')
  })

  test('a generated secret is whsec_ + base64 of 32 bytes from the injected random source, accepted by the npm verifier', () => {
    const secret = newWebhookSecret({ bytes: (n) => new Uint8Array(n).fill(7) })
    expect(secret).toBe(`whsec_${Buffer.alloc(32, 7).toString('base64')}`)
    expect(isWebhookSecret(secret)).toBe(true)
    const ts = Math.floor(Date.now() / 1000)
    const body = '{"type":"webhook.test","data":{}}'
    const headers = { 'webhook-id': 'evt_1', 'webhook-timestamp': String(ts), 'webhook-signature': signatureHeader([secret], 'evt_1', ts, body) }
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body))
  })

  test('several secrets: space-separated entries, each verifying with its own secret', () => {
    const a = newWebhookSecret({ bytes: (n) => new Uint8Array(n).fill(1) })
    const b = newWebhookSecret({ bytes: (n) => new Uint8Array(n).fill(2) })
    const ts = Math.floor(Date.now() / 1000)
    const h = signatureHeader([b, a], 'evt_2', ts, '{}')
    expect(h.split(' ')).toEqual([sign(b, 'evt_2', ts, '{}'), sign(a, 'evt_2', ts, '{}')])
    for (const s of [a, b]) new Webhook(s).verify('{}', { 'webhook-id': 'evt_2', 'webhook-timestamp': String(ts), 'webhook-signature': h })
    const other = newWebhookSecret({ bytes: (n) => new Uint8Array(n).fill(3) })
    expect(() => new Webhook(other).verify('{}', { 'webhook-id': 'evt_2', 'webhook-timestamp': String(ts), 'webhook-signature': h })).toThrow()
  })

  test('isWebhookSecret: whsec_ + base64 of 24–64 bytes only', () => {
    expect(isWebhookSecret(`whsec_${Buffer.alloc(24).toString('base64')}`)).toBe(true)
    expect(isWebhookSecret(`whsec_${Buffer.alloc(64).toString('base64')}`)).toBe(true)
    expect(isWebhookSecret(`whsec_${Buffer.alloc(23).toString('base64')}`)).toBe(false)
    expect(isWebhookSecret(`whsec_${Buffer.alloc(65).toString('base64')}`)).toBe(false)
    expect(isWebhookSecret(Buffer.alloc(32).toString('base64'))).toBe(false)
    expect(isWebhookSecret('whsec_not base64!')).toBe(false)
  })
})
