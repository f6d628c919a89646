import { describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigInvalid, loadConfig, loadSettings, parseDotenv, startEnvironment } from '../src/config'

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
  test('bind-code lifetime: WXGATE_BIND_TTL, 60..2592000 s, default 1800', () => {
    expect(loadConfig({}, '').WXGATE_BIND_TTL).toBe(1800)
    expect(loadConfig({ WXGATE_BIND_TTL: '60' }, '').WXGATE_BIND_TTL).toBe(60)
    expect(loadConfig({ WXGATE_BIND_TTL: '2592000' }, '').WXGATE_BIND_TTL).toBe(2_592_000)
    for (const bad of ['59', '2592001', '30m', '90.5']) expect(fails({ WXGATE_BIND_TTL: bad })).toContain('WXGATE_BIND_TTL')
  })
  test('WXGATE_CHANNEL_NAME names the environment\'s channel; alone (no channel) it is refused', () => {
    const c = loadConfig({ WXGATE_APPID: 'wx1234567890abcdef', WXGATE_APPSECRET: 's', WXGATE_TOKEN: 'tok', WXGATE_CHANNEL_NAME: '某某科技服务号' }, '')
    expect(c.WXGATE_CHANNEL_NAME).toBe('某某科技服务号')
    expect(loadConfig({}, '').WXGATE_CHANNEL_NAME).toBeUndefined()
    expect(fails({ WXGATE_CHANNEL_NAME: '某某科技服务号' })).toContain('WXGATE_APPID')
    expect(fails({ WXGATE_APPID: 'wx1234567890abcdef', WXGATE_APPSECRET: 's', WXGATE_TOKEN: 'tok', WXGATE_CHANNEL_NAME: 'x'.repeat(65) })).toContain('WXGATE_CHANNEL_NAME')
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
  test('.env values are literal: a $ stays as it is', () => {
    expect(parseDotenv('A=ab$cd\nB="x$HOME$1"\nC=\'$PATH\'\n')).toEqual({ A: 'ab$cd', B: 'x$HOME$1', C: '$PATH' })
  })
  test('an unknown WXGATE_* name is a warning naming the nearest known one; the settings still load', () => {
    const s = loadSettings({ WXGATE_PROT: '80', WXGATE_LOGLEVEL: 'debug', OTHER_THING: 'x' }, '')
    expect(s.config.WXGATE_PORT).toBe(3000)
    expect(s.warnings).toEqual([
      'warning: unknown setting WXGATE_LOGLEVEL is ignored; did you mean WXGATE_LOG_LEVEL?',
      'warning: unknown setting WXGATE_PROT is ignored; did you mean WXGATE_PORT?',
    ])
    expect(loadSettings({ WXGATE_PORT: '80' }, '').warnings).toEqual([])
  })
  test('an AppID that is the 原始ID (gh_…) is refused with where the AppID is found', () => {
    const m = fails({ WXGATE_APPID: 'gh_1234567890ab', WXGATE_APPSECRET: 's', WXGATE_TOKEN: 'tok' })
    expect(m).toContain('WXGATE_APPID')
    expect(m).toContain('开发者ID(AppID)')
    expect(m.split('\n').length).toBe(1)
  })
  test('the start environment comes from /proc/self/environ (what Bun loaded from .env is not in it)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wxgate-environ-'))
    try {
      const environ = join(dir, 'environ')
      writeFileSync(environ, 'WXGATE_PORT=4000\0PATH=/bin\0WEIRD=a=b\0')
      expect(startEnvironment({}, environ)).toEqual({ WXGATE_PORT: '4000', PATH: '/bin', WEIRD: 'a=b' })
      // Without it: a .env key whose value Bun expanded is not taken for a real variable.
      process.env.WXGATE_TEST_EXPANDED = 'ab'
      process.env.WXGATE_TEST_REAL = 'real'
      const env = startEnvironment({ WXGATE_TEST_EXPANDED: 'ab$cd', WXGATE_TEST_REAL: 'file' }, join(dir, 'missing'))
      expect(env.WXGATE_TEST_EXPANDED).toBeUndefined()
      expect(env.WXGATE_TEST_REAL).toBe('real')
    } finally {
      delete process.env.WXGATE_TEST_EXPANDED
      delete process.env.WXGATE_TEST_REAL
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
