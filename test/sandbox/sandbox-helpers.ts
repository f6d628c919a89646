/** @module Shared helpers for the sandbox tests: a movable clock, JSON calls, and a token probe. */
import { afterEach } from 'bun:test'
import { fixedClock } from '../../src/lib/clock'
import { DEMO_ACCOUNT, type Sandbox, type SandboxOptions, startSandbox } from '../../src/sandbox'
import { aesKeyFrom, decrypt } from '../../src/wechat/crypto'
import { verifyMsgSignature, verifySignature } from '../../src/wechat/signature'
import { parseXml } from '../../src/wechat/xml'

/** 2025-03-10 10:00:00 Asia/Shanghai (02:00 UTC). */
export const T0 = Date.UTC(2025, 2, 10, 2, 0, 0)
export const S = 1000
export const MIN = 60 * S

export const OTHER_ACCOUNT = { appId: 'wx0ther00000000002', appSecret: 'other-secret' }

// Tests read answer fields freely; every read is followed by an assertion of its value.
export type Json = Record<string, any>

const started: Sandbox[] = []
afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.stop()))
})

/** A sandbox on port 0 with a clock the test moves; stopped after each test. */
export const setup = async (opts: SandboxOptions & { start?: number } = {}) => {
  const clock = fixedClock(opts.start ?? T0)
  const sb = await startSandbox({ clock, accounts: [DEMO_ACCOUNT, OTHER_ACCOUNT], ...opts })
  started.push(sb)
  return { sb, clock }
}

export const post = (sb: Sandbox, path: string, body: unknown, query: Record<string, string> = {}) =>
  fetch(`${sb.url}${path}${Object.keys(query).length ? `?${new URLSearchParams(query)}` : ''}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })

export const get = (sb: Sandbox, path: string, query: Record<string, string> = {}) =>
  fetch(`${sb.url}${path}?${new URLSearchParams(query)}`)

export const json = async (res: Response | Promise<Response>): Promise<Json> => (await (await res).json()) as Json

export const stable = (sb: Sandbox, extra: Record<string, unknown> = {}, account = DEMO_ACCOUNT) =>
  json(post(sb, '/cgi-bin/stable_token', { grant_type: 'client_credential', appid: account.appId, secret: account.appSecret, ...extra }))

export const plainToken = (sb: Sandbox, account = DEMO_ACCOUNT) =>
  json(get(sb, '/cgi-bin/token', { grant_type: 'client_credential', appid: account.appId, secret: account.appSecret }))

/** errcode of a token-protected call (user/info of a known user), 0 when the token is accepted. */
export const probe = async (sb: Sandbox, token: string, account = DEMO_ACCOUNT): Promise<number> => {
  sb.addUser(account.appId, 'o_probe')
  const body = await json(get(sb, '/cgi-bin/user/info', { access_token: token, openid: 'o_probe', lang: 'zh_CN' }))
  return typeof body.errcode === 'number' ? body.errcode : 0
}

/** WeChat's error form: the official text, then " rid: " and three 8-hex groups. */
export const errmsgLike = (text: string): RegExp =>
  new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$`)

/**
 * What a gateway checks in a push from the sandbox (a scan, a user message, TEMPLATESENDJOBFINISH): the
 * signature, and in safe mode the msg_signature and the ciphertext. The plaintext XML, or the answer a
 * gateway would give a bad push.
 */
export const openPush = (p: { query: Record<string, string>; body: string; token: string; appId: string; aesKey?: string }): { plain: string } | { refuse: Response } => {
  const { timestamp = '', nonce = '', signature = '' } = p.query
  if (!verifySignature({ token: p.token, timestamp, nonce, signature })) return { refuse: new Response('bad signature', { status: 401 }) }
  if (p.aesKey === undefined) return { plain: p.body }
  const enc = parseXml(p.body).Encrypt
  if (p.query.encrypt_type !== 'aes' || typeof enc !== 'string') return { refuse: new Response('not safe mode', { status: 400 }) }
  if (!verifyMsgSignature({ token: p.token, timestamp, nonce, encrypt: enc, msgSignature: p.query.msg_signature ?? '' })) return { refuse: new Response('bad msg_signature', { status: 401 }) }
  return { plain: decrypt(enc, aesKeyFrom(p.aesKey), p.appId).xml }
}
