/**
 * @module The account's message templates (SPEC §4 "Sending"): `GET /api/channels/:id/templates` lists them
 * with their fields, from WeChat's get_all_private_template, cached 10 minutes per channel (injected clock);
 * and `POST /api/send` uses the same list to refuse a data key the template does not have.
 *
 * The send check never fails or stalls a send because the list cannot be read: it uses the cache when it is
 * fresh, else makes one call within a short budget (1 s), and otherwise lets the send through as before. That
 * call does not fetch or replace the token (only one already stored and valid is used; a token error is just
 * "no list"): the token's fetches and refreshes stay where they were (the outbox, the scheduler, this route).
 * After a failed or slow check the channel's sends go unchecked for a minute rather than each waiting again.
 */
import type { Clock } from '../lib/clock'
import { NotFoundError, ValidationError } from '../lib/errors'
import type { Logger } from '../lib/log'
import { createSingleFlight } from '../lib/single-flight'
import type { WeChatClient } from '../wechat-api/client'
import { parseTemplateContent, type TemplateField } from '../wechat/template-content'
import type { ChannelService } from './channel.service'
import type { TemplateDataWarning } from './template-data'
import { apiOf, isTokenError, MIN_HANDOUT_MS, type TokenService } from './token.service'

export const TEMPLATE_LIST_ENDPOINT = '/cgi-bin/template/get_all_private_template'
/** The quota name of the call (a 45009 from it stops this call only): 'template/get_all_private_template'. */
export const TEMPLATE_LIST_API = apiOf(TEMPLATE_LIST_ENDPOINT)
export const TEMPLATE_CACHE_MS = 10 * 60_000
/** How long a send may wait for the list when the cache is not fresh. */
export const SEND_CHECK_BUDGET_MS = 1000
/** After a failed or slow list call, sends of the channel are not checked (nor wait) for this long. */
export const SEND_CHECK_PAUSE_MS = 60_000
/**
 * Keys a send may carry whatever the template: WeChat ignores `first` and `remark` since 2023-05-04 (the data
 * check warns about them), and old integrations still send them to new templates.
 */
const ALWAYS_ALLOWED = new Set(['first', 'remark'])

export interface TemplateView {
  templateId: string
  title: string
  fields: TemplateField[]
  example?: string
}

/**
 * What a send's data says against the template list: an error for keys the template does not have, or a
 * warning for a templateId the list does not have. Pure. A template whose content has no placeholders (its
 * fields unknown) is not checked.
 *
 * An unknown templateId is a warning, not a 422: the list may be up to 10 minutes old, and a template added in
 * the admin a minute ago must not be refused; WeChat answers 40037 for a really unknown one, and the message
 * fails at once with that error (SPEC §4), so the warning only says it early.
 */
export const checkAgainstTemplates = (
  list: readonly TemplateView[], p: { channelId: string; templateId: string; keys: readonly string[] },
): { error?: ValidationError; warning?: TemplateDataWarning } => {
  const t = list.find((x) => x.templateId === p.templateId)
  if (!t) {
    return {
      warning: {
        key: 'templateId',
        code: 'unknown_template',
        message: `templateId: no template ${p.templateId} on channel ${p.channelId} (WeChat will answer 40037); GET /api/channels/${p.channelId}/templates lists them`,
      },
    }
  }
  if (t.fields.length === 0) return {}
  const fields = t.fields.map((f) => f.key)
  const unknown = p.keys.filter((k) => !fields.includes(k) && !ALWAYS_ALLOWED.has(k))
  if (unknown.length === 0) return {}
  const error = new ValidationError(
    `data.${unknown[0]}: template ${t.templateId} has no field ${unknown[0]}; its fields are ${fields.join(', ')}`,
    { details: { templateId: t.templateId, unknownKeys: unknown, fields } },
  )
  return { error }
}

export interface TemplatesServiceDeps {
  clock: Clock
  log: Logger
  channels: ChannelService
  tokens: TokenService
  wechat: WeChatClient
  /** Default SEND_CHECK_BUDGET_MS. */
  checkBudgetMs?: number
}

export const createTemplatesService = (deps: TemplatesServiceDeps) => {
  const { clock, channels, tokens, wechat } = deps
  const log = deps.log.child({ module: 'templates' })
  const budgetMs = deps.checkBudgetMs ?? SEND_CHECK_BUDGET_MS
  const cache = new Map<string, { at: number; items: TemplateView[] }>()
  const pausedUntil = new Map<string, number>()
  const flight = createSingleFlight()

  const toView = (answer: Awaited<ReturnType<WeChatClient['templateList']>>): TemplateView[] =>
    answer.template_list.map((t) => ({
      templateId: t.template_id,
      title: t.title,
      fields: parseTemplateContent(t.content),
      ...(t.example ? { example: t.example } : {}),
    }))

  const fresh = (channelId: string) => {
    const hit = cache.get(channelId)
    return hit && clock.now() - hit.at < TEMPLATE_CACHE_MS ? hit.items : undefined
  }

  const store = (channelId: string, items: TemplateView[]) => {
    cache.set(channelId, { at: clock.now(), items })
    pausedUntil.delete(channelId)
    return items
  }

  /** GET /api/channels/:id/templates: the cache, or WeChat through withToken (a token error refreshes it; a WeChat error is 502). */
  const list = async (channelId: string): Promise<TemplateView[]> => {
    if (!channels.get(channelId)) throw new NotFoundError(`unknown channel '${channelId}'`)
    const hit = fresh(channelId)
    if (hit) return hit
    return flight(`list:${channelId}`, async () => {
      const answer = await tokens.withToken(channelId, (accessToken) => wechat.templateList(accessToken), { api: TEMPLATE_LIST_API })
      return store(channelId, toView(answer))
    })
  }

  /** One list call for the send check, with the stored token only (see the module comment). */
  const fetchForCheck = (channelId: string): Promise<TemplateView[] | undefined> =>
    flight(`check:${channelId}`, async () => {
      try {
        const status = await tokens.status(channelId)
        const expiresAt = status.expiresAt === null ? 0 : Date.parse(status.expiresAt)
        // No valid token at hand: do not fetch one here (the outbox will); this send goes unchecked.
        if (!(expiresAt - clock.now() >= MIN_HANDOUT_MS)) return undefined
        const answer = await tokens.withToken(channelId, async (accessToken) => {
          try {
            return await wechat.templateList(accessToken)
          } catch (e) {
            // Not a token error for withToken: a refused token is the outbox's to replace, not a send check's.
            if (isTokenError(e)) throw new Error(`the stored token was refused (errcode ${e.errcode})`, { cause: e })
            throw e
          }
        }, { api: TEMPLATE_LIST_API })
        return store(channelId, toView(answer))
      } catch (e) {
        pausedUntil.set(channelId, clock.now() + SEND_CHECK_PAUSE_MS)
        log.info('template list unavailable: sends are accepted without checking their data keys for a minute', { channel: channelId, error: e })
        return undefined
      }
    })

  /**
   * The list for checking a send, or undefined (accept the send unchecked): the fresh cache, else one call
   * that may take at most the budget (it goes on in the background and fills the cache if it succeeds late).
   */
  const forSend = async (channelId: string): Promise<TemplateView[] | undefined> => {
    const hit = fresh(channelId)
    if (hit) return hit
    if ((pausedUntil.get(channelId) ?? 0) > clock.now()) return undefined
    let timer: ReturnType<typeof setTimeout> | undefined
    const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), budgetMs) })
    try {
      const got = await Promise.race([fetchForCheck(channelId), late])
      if (got !== 'late') return got
      pausedUntil.set(channelId, clock.now() + SEND_CHECK_PAUSE_MS)
      log.info(`template list slower than ${budgetMs} ms: sends are accepted without checking their data keys for a minute`, { channel: channelId })
      return undefined
    } finally {
      clearTimeout(timer)
    }
  }

  return { list, forSend }
}
export type TemplatesService = ReturnType<typeof createTemplatesService>
