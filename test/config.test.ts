import { describe, expect, test } from 'bun:test'
import { ConfigInvalid, loadConfig, parseDotenv } from '../src/config'

const fails = (env: Record<string, string>) => {
  try {
    loadConfig(env, '')
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigInvalid)
    return (e as ConfigInvalid).message
  }
  throw new Error('expected ConfigInvalid')
}

describe('settings', () => {
  test('defaults match SPEC §2', () => {
    const c = loadConfig({}, '')
    expect(c).toMatchObject({ WXGATE_HOST: '127.0.0.1', WXGATE_PORT: 3000, WXGATE_DB: './data/wxgate.db', WXGATE_WECHAT_API: 'https://api.weixin.qq.com', WXGATE_LOG_LEVEL: 'info', WXGATE_CALLBACK_MAX_AGE: 300, WXGATE_TRUST_PROXY: 'loopback', WXGATE_CHANNEL: 'default', WXGATE_ALLOW_EMPTY_TOKEN: false, WXGATE_SEND_RATE: 20, WXGATE_SEND_CONCURRENCY: 8, WXGATE_SEND_MAX_AGE: 86_400, WXGATE_MESSAGE_RETENTION_DAYS: 30 })
  })
  test('each bad value names its variable', () => {
    expect(fails({ WXGATE_PORT: '70000' })).toContain('WXGATE_PORT')
    expect(fails({ WXGATE_ADMIN_TOKEN: 'x'.repeat(23) })).toContain('WXGATE_ADMIN_TOKEN')
    expect(fails({ WXGATE_WECHAT_API: 'ftp://x' })).toContain('WXGATE_WECHAT_API')
    expect(fails({ WXGATE_CALLBACK_MAX_AGE: '-1' })).toContain('WXGATE_CALLBACK_MAX_AGE')
    expect(fails({ WXGATE_CHANNEL: 'has space' })).toContain('WXGATE_CHANNEL')
    expect(fails({ WXGATE_PUBLIC_URL: 'not a url' })).toContain('WXGATE_PUBLIC_URL')
    expect(fails({ WXGATE_SEND_RATE: '0' })).toContain('WXGATE_SEND_RATE')
    expect(fails({ WXGATE_SEND_CONCURRENCY: '1.5' })).toContain('WXGATE_SEND_CONCURRENCY')
    expect(fails({ WXGATE_SEND_MAX_AGE: 'a day' })).toContain('WXGATE_SEND_MAX_AGE')
    expect(fails({ WXGATE_MESSAGE_RETENTION_DAYS: '-3' })).toContain('WXGATE_MESSAGE_RETENTION_DAYS')
  })
  test('a half-defined environment channel is refused, naming what is missing', () => {
    const m = fails({ WXGATE_APPID: 'wx1' })
    expect(m).toContain('WXGATE_APPSECRET')
    expect(m).toContain('WXGATE_TOKEN')
    expect(m.split('\n').length).toBe(1)
  })
  test('trust proxy accepts none, loopback or a list of addresses', () => {
    expect(loadConfig({ WXGATE_TRUST_PROXY: 'none' }, '').WXGATE_TRUST_PROXY).toBe('none')
    expect(loadConfig({ WXGATE_TRUST_PROXY: '10.0.0.1, ::1' }, '').WXGATE_TRUST_PROXY).toEqual(['10.0.0.1', '::1'])
    expect(fails({ WXGATE_TRUST_PROXY: '10.0.0.1,banana' })).toContain('WXGATE_TRUST_PROXY')
  })
  test('.env parsing: comments, quotes, export', () => {
    expect(parseDotenv('# c\nA=1\nexport B="two words"\nC=\'q\' \nD=x # trailing\n')).toEqual({ A: '1', B: 'two words', C: 'q', D: 'x' })
  })
})
