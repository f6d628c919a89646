/**
 * @module The demo's inbox: a small HTTP receiver on loopback, in the `wxgate demo` process, standing in for
 * the team's system that hears wxgate's events (SPEC §6). It verifies each delivery with the third-party
 * `standardwebhooks` package (not with our own signing code, which would verify whatever it signs, bugs
 * included), dedups on webhook-id as a receiver must, and shows what arrived at GET /events.
 *
 * It is also the demo's reply hook (SPEC §7) at POST /reply: it answers a user's text with "你说：<text>", a
 * follow with a welcome and a menu click with its key. A text with 慢 in it is answered after SLOW_MS, past
 * the reply budget (WXGATE_REPLY_TIMEOUT_MS, 3 s), so the demo shows a late answer reaching the user as a
 * customer-service message.
 */
import { Webhook } from 'standardwebhooks'

export interface InboxEvent {
  webhookId: string
  /** The signature checked out with the endpoint's secret (standardwebhooks' verify). */
  verified: boolean
  /** Why it did not, when it did not. */
  error?: string
  type?: string
  timestamp?: string
  data?: unknown
  /** Deliveries with this webhook-id: more than 1 is a retry, answered 2xx and not handled again. */
  attempts: number
  receivedAt: string
}

export interface DemoInbox {
  /** e.g. 'http://127.0.0.1:41234/webhook': what the demo registers as the endpoint URL. */
  webhookUrl: string
  /** e.g. 'http://127.0.0.1:41234/events'. */
  eventsUrl: string
  /** The endpoint's secret, known once the endpoint is created (deliveries before it fail verification). */
  setSecret(secret: string): void
  /** e.g. 'http://127.0.0.1:41234/reply': the demo's reply hook. */
  replyUrl: string
  /** The reply hook's secret. */
  setReplySecret(secret: string): void
  events(): InboxEvent[]
  stop(): Promise<void>
}

/** Enough for a person to look at; older ones are dropped. */
const KEEP = 100
/** A text with 慢 ("slow") is answered this late: past the 3 s reply budget, within the 30 s a late answer still counts. */
export const SLOW_MS = 4_000

/** The demo hook's answer to an event (SPEC §7 reply), or none. */
export const demoReplyTo = (type: string | undefined, data: Record<string, unknown>): { type: 'text'; content: string } | undefined => {
  if (type === 'message.received' && typeof data.content === 'string') return { type: 'text', content: `你说：${data.content}` }
  if (type === 'user.subscribed') return { type: 'text', content: '欢迎关注 wxgate 演示服务号！发一句话试试。' }
  if (type === 'menu.clicked') return { type: 'text', content: `你点了菜单：${String(data.key ?? '')}` }
  return undefined
}

export const startDemoInbox = (opts: { hostname?: string; port?: number; now?: () => Date } = {}): DemoInbox => {
  const now = opts.now ?? (() => new Date())
  let verifier: Webhook | undefined
  // Newest last; byId finds a retry's first delivery.
  const kept: InboxEvent[] = []
  const byId = new Map<string, InboxEvent>()

  const receive = async (request: Request): Promise<Response> => {
    const body = await request.text()
    const headers = Object.fromEntries(request.headers)
    const webhookId = headers['webhook-id'] ?? ''
    const seen = byId.get(webhookId)
    if (seen?.verified) {
      seen.attempts++
      return new Response(null, { status: 204 })
    }
    const entry: InboxEvent = { webhookId, verified: false, attempts: (seen?.attempts ?? 0) + 1, receivedAt: now().toISOString() }
    try {
      if (!verifier) throw new Error('no secret yet')
      const event = verifier.verify(body, headers) as { type?: string; timestamp?: string; data?: unknown }
      entry.verified = true
      if (event.type !== undefined) entry.type = event.type
      if (event.timestamp !== undefined) entry.timestamp = event.timestamp
      entry.data = event.data
    } catch (e) {
      entry.error = e instanceof Error ? e.message : String(e)
    }
    if (seen) kept.splice(kept.indexOf(seen), 1)
    kept.push(entry)
    byId.set(webhookId, entry)
    while (kept.length > KEEP) byId.delete(kept.shift()!.webhookId)
    // A bad signature is refused as a real receiver would: wxgate records the failure and retries.
    return entry.verified ? new Response(null, { status: 204 }) : Response.json({ error: entry.error }, { status: 401 })
  }

  let replyVerifier: Webhook | undefined
  const reply = async (request: Request): Promise<Response> => {
    const body = await request.text()
    let event: { type?: string; data?: Record<string, unknown> }
    try {
      if (!replyVerifier) throw new Error('no secret yet')
      event = replyVerifier.verify(body, Object.fromEntries(request.headers)) as typeof event
    } catch (e) {
      return Response.json({ error: e instanceof Error ? e.message : String(e) }, { status: 401 })
    }
    const r = demoReplyTo(event.type, event.data ?? {})
    if (!r) return new Response(null, { status: 204 })
    if (r.content.includes('慢')) await Bun.sleep(SLOW_MS)
    return Response.json({ reply: r })
  }

  const server = Bun.serve({
    hostname: opts.hostname ?? '127.0.0.1',
    port: opts.port ?? 0,
    fetch: async (request) => {
      const url = new URL(request.url)
      if (request.method === 'POST' && url.pathname === '/webhook') return receive(request)
      if (request.method === 'POST' && url.pathname === '/reply') return reply(request)
      if (request.method === 'GET' && url.pathname === '/events') {
        const type = url.searchParams.get('type')
        // Newest first, as the gateway's own lists.
        const events = kept.filter((e) => type === null || e.type === type).reverse()
        return new Response(`${JSON.stringify({ events }, null, 2)}\n`, { headers: { 'content-type': 'application/json; charset=utf-8' } })
      }
      return Response.json({ error: 'POST /webhook (deliveries), POST /reply (the reply hook) or GET /events[?type=]' }, { status: 404 })
    },
  })
  const origin = server.url.origin
  return {
    webhookUrl: `${origin}/webhook`,
    eventsUrl: `${origin}/events`,
    setSecret: (secret) => {
      verifier = new Webhook(secret)
    },
    replyUrl: `${origin}/reply`,
    setReplySecret: (secret) => {
      replyVerifier = new Webhook(secret)
    },
    events: () => [...kept].reverse(),
    stop: async () => {
      await server.stop(true)
    },
  }
}
