import { describe, expect, test } from 'bun:test'
import { memoryLogger } from '../../src/lib/log'

describe('logger', () => {
  test('one JSON object a line, with level filtering', () => {
    const { logger, lines } = memoryLogger('info')
    logger.debug('hidden')
    logger.child({ module: 'x' }).info('shown', { n: 1 })
    expect(lines.length).toBe(1)
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'info', msg: 'shown', module: 'x', n: 1 })
    expect([logger.enabled('debug'), logger.enabled('info'), logger.child({}).enabled('error')]).toEqual([false, true, true])
  })
  test('secrets are redacted at the logger: sensitive keys, registered values, access_token in URLs', () => {
    const { logger, lines } = memoryLogger('debug')
    logger.addSecret('my-app-secret-123')
    logger.info('call', {
      appSecret: 'whatever', accessToken: 'tok-123456', aesKey: 'k'.repeat(43), apiKey: 'wxg_abc', authorization: 'Bearer wxg_abc',
      url: 'https://api.example/cgi-bin/message?access_token=SECRET_TOKEN_VALUE&x=1',
      note: 'the secret is my-app-secret-123 inside a sentence',
      nested: { deeper: [{ secret: 's3cr3t' }] },
      error: new Error('failed with my-app-secret-123'),
      tokenState: 'ok', refreshedAt: 5,
    })
    const line = lines[0]!
    for (const s of ['whatever', 'tok-123456', 'k'.repeat(43), 'wxg_abc', 'SECRET_TOKEN_VALUE', 'my-app-secret-123', 's3cr3t']) expect(line).not.toContain(s)
    const rec = JSON.parse(line)
    expect(rec.url).toBe('https://api.example/cgi-bin/message?access_token=[redacted]&x=1')
    expect(rec.tokenState).toBe('ok')
    expect(rec.refreshedAt).toBe(5)
  })
})
