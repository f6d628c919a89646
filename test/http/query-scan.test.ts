/**
 * The callback's hand-written query scan (callback.routes.ts scanQuery) against its reference, URLSearchParams
 * (the first value of each name), on WeChat's own query strings and on many thousands of generated and mutated
 * ones: separators, empty pairs, `=` in values, `+`, percent escapes valid and broken, non-ASCII.
 */
import { expect, test } from 'bun:test'
import { scanQuery } from '../../src/http/callback.handlers'

const reference = (qs: string): Record<string, string> => {
  const q: Record<string, string> = {}
  for (const [k, v] of new URLSearchParams(qs)) if (!(k in q)) q[k] = v
  return q
}

/** A small deterministic generator (xorshift), so a failure can be replayed. */
const rng = (seed: number) => () => { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return (seed >>> 0) / 2 ** 32 }

test('WeChat\'s query strings', () => {
  for (const qs of [
    'signature=8b27a3c0f1d5e3b6a2c4d9e0f7a1b3c5d7e9f0a2&timestamp=1732500000&nonce=1234567890&openid=oAbC_-12xyz',
    'signature=s&timestamp=1&nonce=2&openid=o&encrypt_type=aes&msg_signature=ms',
    'signature=a&echostr=4375120948345356249&timestamp=1&nonce=2',
    '', 'a', '=', '&&', 'a=1&a=2', 'a=b=c', 'x=%E4%BD%A0%E5%A5%BD', 'x=a+b', 'x=%zz', 'x=%', '%61=1', 'a+b=c',
  ]) expect(scanQuery(qs)).toEqual(reference(qs))
})

test('100,000 generated and mutated query strings read as URLSearchParams reads them', () => {
  const next = rng(20261202)
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)]!
  const atoms = ['signature', 'timestamp', 'nonce', 'openid', 'echostr', 'encrypt_type', 'msg_signature', 'a', 'x', '', '1732500000',
    '=', '&', '+', '%', '%2', '%20', '%2B', '%3D', '%26', '%E4%BD%A0', '%C3', '%zz', '你好', 'é', '?', '#', ' ', '~', '-', '_', '.']
  let checked = 0
  for (let n = 0; n < 100_000; n++) {
    const parts: string[] = []
    const len = 1 + Math.floor(next() * 12)
    for (let i = 0; i < len; i++) parts.push(pick(atoms))
    const qs = parts.join(next() < 0.5 ? '' : pick(['&', '=', '']))
    expect(scanQuery(qs)).toEqual(reference(qs))
    checked++
  }
  expect(checked).toBe(100_000)
})
