/**
 * @module clear_quota and clear_quota/v2 (https://developers.weixin.qq.com/doc/service/openApi/clear_quota.html,
 * PROTOCOL.md §5.3): 10 resets per account per calendar month (Asia/Shanghai).
 */
import { z } from 'zod'
import { type AccountState, type SandboxRequest, type SandboxState, shanghaiMonth } from './sandbox.state'
import { checkAppSecret, readAuthedPost, readPost } from './tokens'
import { wxError, wxOk } from './wx-reply'

const CLEARS_PER_MONTH = 10

export const ClearQuotaBody = z.object({ appid: z.string().optional() })
export type ClearQuotaBody = z.infer<typeof ClearQuotaBody>

export const ClearQuotaV2Body = z.object({ appid: z.string().optional(), appsecret: z.string().optional() })
export type ClearQuotaV2Body = z.infer<typeof ClearQuotaV2Body>

const clear = (state: SandboxState, acc: AccountState): Response => {
  const month = shanghaiMonth(state.clock.now())
  if (acc.quotaMonth !== month) {
    acc.quotaMonth = month
    acc.quotaCount = 0
  }
  if (acc.quotaCount >= CLEARS_PER_MONTH) return wxError(state.random, 48006)
  acc.quotaCount++
  // A persistent 45009 injection stands for "the daily quota is used up"; clearing the quota ends it.
  // Injection rules are not tied to an account, so every such rule goes.
  state.rules = state.rules.filter((r) => !(r.rule.errcode === 45009 && r.left === Infinity))
  return wxOk()
}

export const handleClearQuota = (state: SandboxState, req: SandboxRequest): Response => {
  const post = readAuthedPost(state, req, ClearQuotaBody)
  if (post instanceof Response) return post
  const { acc, data } = post
  if (!data.appid) return wxError(state.random, 41002)
  if (data.appid !== acc.account.appId) return wxError(state.random, 40013)
  return clear(state, acc)
}

/** The variant without a token, for when the token endpoint itself is out of quota. */
export const handleClearQuotaV2 = (state: SandboxState, req: SandboxRequest): Response => {
  const parsed = readPost(state, req, ClearQuotaV2Body)
  if (parsed instanceof Response) return parsed
  const acc = checkAppSecret(state, parsed.data.appid, parsed.data.appsecret)
  if (typeof acc === 'number') return wxError(state.random, acc)
  return clear(state, acc)
}
