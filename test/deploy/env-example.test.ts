/**
 * deploy/wxgate.env.example is read by systemd (the service and deploy/wxgate-cli), by Docker Compose
 * (env_file) and, copied to .env, by wxgate itself: each with its own quoting and `$` rules. Its lines stay
 * plain so that all of them read the same values; and every name in it is a setting wxgate knows.
 */
import { describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadSettings, parseDotenv } from '../../src/config'

const root = join(import.meta.dir, '..', '..')
const text = readFileSync(join(root, 'deploy', 'wxgate.env.example'), 'utf8')
const settingLines = text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'))

describe('deploy/wxgate.env.example', () => {
  test('every setting line is plain KEY=value: no quotes, spaces, $, #, or backslashes in a value', () => {
    expect(settingLines.length).toBeGreaterThan(10)
    for (const l of settingLines) expect(l).toMatch(/^WXGATE_[A-Z0-9_]+=[^\s$#'"`\\]*$/)
  })

  test('every name (commented-out ones too) is a known setting, and the file as written is valid', () => {
    const names = text.split('\n').map((l) => /^#?(WXGATE_[A-Z0-9_]+)=/.exec(l)?.[1]).filter((n): n is string => n !== undefined)
    const all = Object.fromEntries(names.map((n) => [n, '']))
    expect(loadSettings({ ...all, ...parseDotenv(text) }, '').warnings).toEqual([])
  })

  test("under compose.yaml's environment entries, the container gets its own host, database and trusted proxy", () => {
    const compose = Bun.YAML.parse(readFileSync(join(root, 'compose.yaml'), 'utf8')) as { services: { wxgate: { environment: Record<string, string> } } }
    // Compose: `environment` wins over `env_file`.
    const c = loadSettings({ ...parseDotenv(text), ...compose.services.wxgate.environment }, '').config
    expect(c.WXGATE_HOST).toBe('0.0.0.0')
    expect(c.WXGATE_DB).toBe('/data/wxgate.db')
    expect(Array.isArray(c.WXGATE_TRUST_PROXY)).toBe(true)
  })
})
