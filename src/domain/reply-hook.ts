/**
 * @module Reply hooks (SPEC §7): the team's code answers a user within WeChat's 5 s.
 *
 * A webhook endpoint with `reply: true` is POSTed the callback's event (the same body and Standard Webhooks
 * headers as a delivery: webhook-feed.ts builds it) before WeChat is answered, outside any transaction. Its
 * answer — `200 {"reply": R}`, or `204` / `200 {}` for none — is checked here (zod, one schema per reply type,
 * and WeChat's article rule) and turned into the passive reply (wechat/replies.ts). Whatever goes wrong (an
 * error status, garbage, a reply WeChat would refuse, no answer within the budget) is a `failed` outcome with
 * what was wrong, for the log: the callback then answers `success` in time. An answer that comes after the
 * budget but within LATE_MS is handed to `onLate` (the caller sends it as a customer-service message).
 */
import { z } from 'zod'
import type { Clock } from '../lib/clock'
import { readBytesCapped } from '../lib/read-capped'
import { signatureHeader } from '../lib/standard-webhooks'
import type { EndpointRow } from '../store/contract'
import { MAX_NEWS_ARTICLES, type Reply } from '../wechat/replies'

/** A hook's answer is read up to this size (a reply is small; more is refused). */
export const MAX_HOOK_ANSWER_BYTES = 64 * 1024
/** A late answer still reaches the user (as a customer-service message) when it comes within this, from the call. */
export const LATE_MS = 30_000

const text = z.string().min(1)
const Article = z.object({ title: text, description: z.string().optional(), picUrl: z.url().optional(), url: z.url() })
/** R of SPEC §7: what a reply hook may answer. */
export const HookReply = z.discriminatedUnion('type', [
  // The same limit as a customer-service text (a late answer goes as one): 2048 bytes of UTF-8.
  z.object({ type: z.literal('text'), content: text.refine((c) => Buffer.byteLength(c) <= 2048, 'at most 2048 bytes (UTF-8)') }),
  z.object({ type: z.literal('image'), mediaId: text }),
  z.object({ type: z.literal('voice'), mediaId: text }),
  z.object({ type: z.literal('video'), mediaId: text, title: z.string().optional(), description: z.string().optional() }),
  z.object({ type: z.literal('music'), title: z.string().optional(), description: z.string().optional(), musicUrl: z.url().optional(), hqMusicUrl: z.url().optional(), thumbMediaId: text }),
  z.object({ type: z.literal('news'), articles: z.array(Article).min(1).max(MAX_NEWS_ARTICLES) }),
  z.object({ type: z.literal('transfer_customer_service'), kfAccount: z.string().optional() }),
])
export type HookReply = z.infer<typeof HookReply>
export const HookAnswer = z.object({ reply: HookReply.optional() })
export type HookAnswer = z.infer<typeof HookAnswer>

export type HookOutcome =
  | { kind: 'reply'; reply: Reply }
  | { kind: 'none' }
  | { kind: 'failed'; why: string; status?: number }

/** What the hook is called with: the event of the callback, as a delivery would carry it. */
export interface HookEvent { id: string; body: string }

const zodWhy = (e: z.ZodError): string => e.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(answer)'}: ${i.message}`).join('; ')

/**
 * Checks a hook's answer body. `toMessage`: the callback is a user's message (not an event), when WeChat
 * shows one article only (PROTOCOL §9.2): more is refused rather than cut.
 */
export const parseHookAnswer = (status: number, body: string, toMessage: boolean): HookOutcome => {
  if (status === 204) return { kind: 'none' }
  if (status !== 200) return { kind: 'failed', status, why: `HTTP ${status}${body ? `: ${body.slice(0, 200)}` : ''} (a reply hook answers 200 {"reply": …}, or 204 for none)` }
  if (body.trim() === '') return { kind: 'none' }
  let json: unknown
  try {
    json = JSON.parse(body)
  } catch {
    return { kind: 'failed', status, why: `not JSON: ${body.slice(0, 120)}` }
  }
  const r = HookAnswer.safeParse(json)
  if (!r.success) return { kind: 'failed', status, why: `not a reply WeChat accepts: ${zodWhy(r.error)}` }
  const reply = r.data.reply
  if (!reply) return { kind: 'none' }
  if (reply.type === 'news' && toMessage && reply.articles.length > 1) {
    return { kind: 'failed', status, why: `reply.articles: ${reply.articles.length} articles; WeChat shows only one in answer to a user's message` }
  }
  return { kind: 'reply', reply }
}

/** The customer-service message that carries a late reply (SPEC §7 bodies), or undefined when it has none. */
export const lateMessageOf = (reply: Reply): { type: string; [k: string]: unknown } | undefined => {
  switch (reply.type) {
    case 'text': return { type: 'text', text: { content: reply.content } }
    case 'image': return { type: 'image', image: { mediaId: reply.mediaId } }
    case 'voice': return { type: 'voice', voice: { mediaId: reply.mediaId } }
    case 'video': return { type: 'video', video: { mediaId: reply.mediaId, ...(reply.title ? { title: reply.title } : {}), ...(reply.description ? { description: reply.description } : {}) } }
    case 'music': {
      const { type: _t, ...music } = reply
      return { type: 'music', music }
    }
    case 'news': return { type: 'news', news: { articles: reply.articles.slice(0, 1) } }
    // Handing over to the customer-service system means nothing once WeChat has been answered.
    case 'transfer_customer_service': return undefined
  }
}

export interface ReplyHookDeps {
  clock: Clock
  userAgent: string
  /** Tests may pass their own; the default is the global fetch. */
  fetch?: typeof fetch
}

export const createReplyHook = (deps: ReplyHookDeps) => {
  const doFetch = deps.fetch ?? fetch

  /**
   * Calls the hook. Resolves within `budgetMs` with the outcome; when the budget runs out first it resolves
   * `failed` ("no answer within …") and, if the answer then comes within LATE_MS, hands it to `onLate`.
   */
  const call = (ep: EndpointRow, event: HookEvent, budgetMs: number, toMessage: boolean, onLate: (o: HookOutcome) => void): Promise<HookOutcome> => {
    const now = deps.clock.now()
    const ts = Math.floor(now / 1000)
    const secrets = [ep.secret, ...(ep.previousSecret && ep.previousSecretUntil !== null && ep.previousSecretUntil > now ? [ep.previousSecret] : [])]
    const answer = (async (): Promise<HookOutcome> => {
      try {
        const res = await doFetch(ep.url, {
          method: 'POST',
          body: event.body,
          redirect: 'manual',
          signal: AbortSignal.timeout(LATE_MS),
          headers: {
            'content-type': 'application/json',
            'user-agent': deps.userAgent,
            'webhook-id': event.id,
            'webhook-timestamp': String(ts),
            'webhook-signature': signatureHeader(secrets, event.id, ts, event.body),
          },
        })
        let bytes: Uint8Array
        try {
          bytes = await readBytesCapped(res, MAX_HOOK_ANSWER_BYTES, () => new Error('too large'))
        } catch {
          return { kind: 'failed', status: res.status, why: `the answer is larger than ${MAX_HOOK_ANSWER_BYTES / 1024} KiB` }
        }
        return parseHookAnswer(res.status, Buffer.from(bytes).toString('utf8'), toMessage)
      } catch (e) {
        const name = (e as Error)?.name
        if (name === 'TimeoutError' || name === 'AbortError') return { kind: 'failed', why: `no answer within ${LATE_MS / 1000} s` }
        return { kind: 'failed', why: `network error: ${(e as Error)?.message ?? String(e)}` }
      }
    })()
    let timer: ReturnType<typeof setTimeout> | undefined
    let late = false
    const budget = new Promise<HookOutcome>((resolve) => {
      timer = setTimeout(() => { late = true; resolve({ kind: 'failed', why: `no answer within the budget (${budgetMs} ms)` }) }, Math.max(0, budgetMs))
    })
    void answer.then((o) => {
      if (late) onLate(o)
    })
    return Promise.race([answer, budget]).finally(() => clearTimeout(timer))
  }

  return { call }
}
export type ReplyHook = ReturnType<typeof createReplyHook>
