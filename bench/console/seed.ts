/**
 * The data of the console benchmark (bench/console/run.ts): a migrated, empty wxgate SQLite database filled with
 * a week of one small team's traffic, written with bun:sqlite straight into the real tables (schema.ts) in one
 * transaction. A benchmark helper, not product code: it may write SQL itself. Deterministic (a seeded PRNG), so
 * that runs compare.
 *
 * What a gateway in use for a week or so would hold (the API keys and the webhook endpoint are made by the CLI
 * beforehand, as an operator would):
 * - `bindings`: `bindings` OpenIDs (default 1,000) of the env channel, on about 0.8 × as many subjects (some have two
 *   OpenIDs), 3 % unsubscribed, bound over the last 90 days;
 * - `messages`: `messages` rows (default 10,000) over the last 7 days (inside the 30-day retention, so the start-up
 *   prune keeps them), sent in requests of 1–20 recipients, mostly to subjects (10 % straight to an OpenID), the two
 *   demo templates and 10 % customer-service text; statuses as a real week ends: delivered, sent (no report yet),
 *   failed (43004, 40003, 43101 from WeChat's answer; `failed:user block` from the delivery report; `not_subscribed`
 *   for an unsubscribed binding), and queued ones of the last day waiting for a retry (due in 1–3 h: the outbox
 *   sends nothing while the pages are timed); with their `message_attempts` rows;
 * - `send_requests` of the last 24 h only (older ones are pruned at 24 h in production);
 * - `inbound_messages`: the subscribe of each binding of the last 30 days, the TEMPLATESENDJOBFINISH of each
 *   delivered or report-failed message, and text messages from bound users;
 * - `webhook_events` with one delivered `webhook_deliveries` row each for the endpoint (6 days, inside the
 *   7-day delivery retention);
 * - `channel_tokens`: a token fetched an hour ago, valid one more hour (the overview shows it).
 */
import type { Database } from 'bun:sqlite'
import { templatePayload } from '../../src/domain/customer-message'
import { eventBody } from '../../src/domain/events.service'
import { shanghaiDay } from '../../src/lib/shanghai-day'
import { DEMO_TEMPLATE_LIST } from '../../src/sandbox'

const HOUR = 3_600_000
const DAY = 24 * HOUR

/** mulberry32: small, fast, good enough for test data. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

export interface SeedOptions {
  channelId: string
  appId: string
  appSecret: string
  token: string
  /** The API key id the send requests came from (made by `wxgate apikey create` before). */
  senderKeyId: string
  /** The webhook endpoint's id (made by `wxgate webhook add` before), for its delivery history. */
  endpointId?: string
  messages: number
  bindings: number
  now: number
}

export interface Seeded {
  messages: number
  attempts: number
  bindings: number
  subjects: number
  sendRequests: number
  inbound: number
  webhookEvents: number
  byStatus: Record<string, number>
  /** A subject with two bindings (for `?q=`), an OpenID, a failed message with attempts, a delivered one. */
  sample: { subject: string; openid: string; failedMessageId: string; deliveredMessageId: string; queuedMessageId: string }
  ms: number
}

export const seed = (db: Database, o: SeedOptions): Seeded => {
  const t0 = performance.now()
  const rnd = prng(20261202)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!
  const b64 = (bytes: number) => {
    const b = new Uint8Array(bytes)
    for (let i = 0; i < bytes; i++) b[i] = Math.floor(rnd() * 256)
    return Buffer.from(b).toString('base64url')
  }
  const openidOf = () => `o${b64(21).slice(0, 27)}`
  const timedId = (prefix: string, at: number) => `${prefix}_${at.toString(36).padStart(9, '0')}${b64(10)}`
  const { now } = o
  const seeded: Partial<Seeded> = {}

  db.run('PRAGMA foreign_keys = ON')
  const ins = {
    channel: db.prepare('INSERT OR IGNORE INTO channels (id, app_id, app_secret, token, aes_key, replies, name, created_at, updated_at) VALUES (?, ?, ?, ?, NULL, NULL, ?, ?, ?)'),
    token: db.prepare('INSERT OR REPLACE INTO channel_tokens (channel_id, access_token, expires_at, refreshed_at, day, refreshes_today, force_refreshes_today) VALUES (?, ?, ?, ?, ?, 1, 0)'),
    binding: db.prepare('INSERT INTO bindings (id, channel_id, openid, subject, status, code, bound_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
    request: db.prepare('INSERT INTO send_requests (id, api_key_id, idempotency_key, body_hash, answer, created_at) VALUES (?, ?, ?, ?, ?, ?)'),
    message: db.prepare(`INSERT INTO messages (id, request_id, channel_id, openid, subject, template_id, type, payload, status, attempts, errcode, error,
      wechat_msg_id, next_attempt_at, created_at, sent_at, finished_at, last_call_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    attempt: db.prepare('INSERT INTO message_attempts (message_id, at, duration_ms, outcome, errcode, error) VALUES (?, ?, ?, ?, ?, ?)'),
    inbound: db.prepare(`INSERT INTO inbound_messages (channel_id, dedup_key, msg_type, event, from_user, create_time, body, reply, handled_by, claimed, received_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    event: db.prepare('INSERT INTO webhook_events (id, type, channel_id, body, created_at) VALUES (?, ?, ?, ?, ?)'),
    delivery: db.prepare(`INSERT INTO webhook_deliveries (id, event_id, endpoint_id, status, attempts, next_attempt_at, last_status_code, created_at, delivered_at, finished_at)
      VALUES (?, ?, ?, 'delivered', 1, ?, 200, ?, ?, ?)`),
  }
  const byStatus: Record<string, number> = {}
  let attempts = 0
  let sendRequests = 0
  let inbound = 0
  let webhookEvents = 0
  const inboundRows: { at: number; from: string; xml: (ct: number) => string; key: (ct: number) => string; msgType: string; event: string | null; reply: string; handledBy: string; claimed: number }[] = []
  const events: { at: number; type: string; data: Record<string, unknown> }[] = []
  const xml = (from: string, ct: number, inner: string) =>
    `<xml><ToUserName><![CDATA[gh_bench0000001]]></ToUserName><FromUserName><![CDATA[${from}]]></FromUserName><CreateTime>${ct}</CreateTime>${inner}</xml>`

  db.transaction(() => {
    ins.channel.run(o.channelId, o.appId, o.appSecret, o.token, '某某科技服务号', now - 120 * DAY, now - 120 * DAY)
    ins.token.run(o.channelId, `bench_access_token_${b64(48)}`, now + HOUR, now - HOUR, shanghaiDay(now))

    // ---- bindings ------------------------------------------------------------------------------------------
    const nSubjects = Math.round(o.bindings * 0.8)
    const subjects = Array.from({ length: nSubjects }, (_, i) => `u-${String(10_000 + i * 7)}`)
    const bound: { openid: string; subject: string; status: string; at: number }[] = []
    for (let i = 0; i < o.bindings; i++) {
      // The first nSubjects bindings give every subject one OpenID; the rest a second one to some.
      const subject = i < nSubjects ? subjects[i]! : subjects[Math.floor(rnd() * nSubjects)]!
      bound.push({ openid: openidOf(), subject, status: rnd() < 0.03 ? 'unsubscribed' : 'active', at: now - Math.floor(rnd() * 90 * DAY) })
    }
    bound.sort((a, b) => a.at - b.at) // seq in the order they were bound
    for (const b of bound) {
      ins.binding.run(`bnd_${b64(12)}`, o.channelId, b.openid, b.subject, b.status, b64(16), b.at, b.status === 'unsubscribed' ? b.at + Math.floor(rnd() * (now - b.at)) : b.at)
      if (now - b.at < 30 * DAY) {
        inboundRows.push({
          at: b.at - 2000, from: b.openid, msgType: 'event', event: 'subscribe', handledBy: 'bind-scan', claimed: 1,
          reply: 'success', key: (ct) => `evt:${b.openid}:${ct}:subscribe:qrscene_${b.subject}`,
          xml: (ct) => xml(b.openid, ct, `<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[qrscene_${b.subject}]]></EventKey><Ticket><![CDATA[${b64(40)}]]></Ticket>`),
        })
        events.push({ at: b.at, type: 'binding.created', data: { channel: o.channelId, openid: b.openid, subject: b.subject } })
      }
    }
    const active = bound.filter((b) => b.status === 'active')
    const bySubject = new Map<string, typeof bound>()
    for (const b of bound) bySubject.set(b.subject, [...(bySubject.get(b.subject) ?? []), b])

    // ---- messages, in send requests --------------------------------------------------------------------------
    const created: number[] = Array.from({ length: o.messages }, () => now - Math.floor(rnd() * 7 * DAY)).sort((a, b) => a - b)
    let msgSeq = 0
    let wxMsgId = 3_700_000_000_000_000_000n
    const sample = { failedMessageId: '', deliveredMessageId: '', queuedMessageId: '' }
    while (msgSeq < o.messages) {
      const at = created[msgSeq]!
      const size = Math.min(o.messages - msgSeq, rnd() < 0.6 ? 1 : 2 + Math.floor(rnd() * 19))
      const reqId = `req_${b64(15)}`
      const tpl = rnd() < 0.1 ? undefined : pick(DEMO_TEMPLATE_LIST)
      const keys = tpl ? [...tpl.content.matchAll(/\{\{(\w+)\.DATA\}\}/g)].map((m) => m[1]!) : []
      const data = Object.fromEntries(keys.map((k) => [k, k.startsWith('amount') ? `¥${(rnd() * 500).toFixed(2)}` : k.startsWith('time') ? '2026年11月28日 15:01' : `订单 ${b64(6)}`]))
      const payload = tpl ? templatePayload({ templateId: tpl.templateId, data, url: 'https://crm.example.com/orders/1' }) : JSON.stringify({ msgtype: 'text', text: { content: '您好，您的工单已处理完毕。' } })
      // Recipients: bindings of some subjects (all their OpenIDs), or an OpenID straight away.
      const recips: { openid: string; subject: string | null; unsubscribed: boolean }[] = []
      while (recips.length < size) {
        if (rnd() < 0.1) { const b = pick(active); recips.push({ openid: b.openid, subject: null, unsubscribed: false }); continue }
        for (const b of bySubject.get(pick(subjects))!) if (recips.length < size) recips.push({ openid: b.openid, subject: b.subject, unsubscribed: b.status === 'unsubscribed' })
      }
      const answer = { id: reqId, recipients: [] as unknown[], unresolved: [] as string[] }
      for (const r of recips) {
        const id = `msg_${b64(15)}`
        const ts = created[msgSeq++]!
        const recent = now - ts < DAY
        const x = rnd()
        let status: string, tries: { outcome: string; errcode: number | null; error: string | null }[] = [], errcode: number | null = null, error: string | null = null
        let wechat: string | null = null, sentAt: number | null = null, finishedAt: number | null = null, next = ts
        if (r.unsubscribed) { status = 'failed'; error = 'not_subscribed'; finishedAt = ts }
        else if (recent && x < 0.2) {
          status = 'queued'; errcode = -1; error = 'system error'; next = now + HOUR + Math.floor(rnd() * 2 * HOUR)
          tries = Array.from({ length: 1 + Math.floor(rnd() * 2) }, () => ({ outcome: 'transient', errcode: -1, error: 'system error' }))
        } else if (x < (recent ? 0.28 : 0.07)) {
          const [c, m] = pick([[43004, 'require subscribe'], [40003, 'invalid openid'], [43101, 'user refuse to accept the msg']] as const)
          status = 'failed'; errcode = c; error = `${c} ${m}`; finishedAt = ts + 300
          tries = [{ outcome: 'permanent', errcode: c, error: m }]
        } else {
          sentAt = ts + 50 + Math.floor(rnd() * 1500)
          if (tpl) wechat = String(wxMsgId++)
          if (rnd() < 0.1) tries.push({ outcome: 'transient', errcode: -1, error: 'system error' })
          tries.push({ outcome: 'ok', errcode: null, error: null })
          const y = rnd()
          if (tpl && y < (recent ? 0.4 : 0.14)) status = 'sent' // no delivery report (yet)
          else if (tpl && y < (recent ? 0.45 : 0.17)) { status = 'failed'; error = 'failed:user block'; finishedAt = sentAt + 2000 }
          else if (tpl) { status = 'delivered'; finishedAt = sentAt + 1000 + Math.floor(rnd() * 9000) }
          else status = 'sent' // customer-service messages get no delivery report
          if (finishedAt !== null && wechat) {
            const mid = wechat, fin = status === 'delivered' ? 'success' : 'failed:user block'
            inboundRows.push({
              at: finishedAt, from: r.openid, msgType: 'event', event: 'TEMPLATESENDJOBFINISH', handledBy: 'delivery-status', claimed: 1, reply: 'success',
              key: (c) => `evt:${r.openid}:${c}:TEMPLATESENDJOBFINISH:${mid}`,
              xml: (c) => xml(r.openid, c, `<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>${mid}</MsgID><Status><![CDATA[${fin}]]></Status>`),
            })
          }
        }
        const lastCall = tries.length ? (sentAt ?? ts + 100) : null
        ins.message.run(id, reqId, o.channelId, r.openid, r.subject, tpl?.templateId ?? '', tpl ? 'template' : 'text', payload, status, tries.length, errcode, error,
          wechat, next, ts, sentAt, finishedAt, lastCall)
        tries.forEach((t, i) => ins.attempt.run(id, ts + 20 + i * 1000, 40 + Math.floor(rnd() * 200), t.outcome, t.errcode, t.error))
        attempts += tries.length
        byStatus[status] = (byStatus[status] ?? 0) + 1
        if (status === 'failed' && tries.length && !sample.failedMessageId) sample.failedMessageId = id
        if (status === 'delivered' && tries.length > 1 && !sample.deliveredMessageId) sample.deliveredMessageId = id
        if (status === 'queued' && !sample.queuedMessageId) sample.queuedMessageId = id
        answer.recipients.push({ messageId: id, ...(r.subject ? { subject: r.subject } : {}), openid: r.openid, status: r.unsubscribed ? 'failed' : 'queued', ...(r.unsubscribed ? { error: 'not_subscribed' } : {}) })
        if (status !== 'queued' && status !== 'sent') {
          const evStatus = status === 'delivered' ? 'message.delivered' : 'message.failed'
          events.push({ at: finishedAt ?? ts, type: evStatus, data: { messageId: id, channel: o.channelId, openid: r.openid, ...(r.subject ? { subject: r.subject } : {}), status } })
        }
      }
      if (now - at < DAY) {
        ins.request.run(reqId, o.senderKeyId, null, b64(32), JSON.stringify(answer), at)
        sendRequests++
      }
    }

    // ---- inbound: text messages from bound users, then everything in time order --------------------------------
    for (let i = 0; i < Math.round(o.bindings); i++) {
      const b = pick(active)
      const at = now - Math.floor(rnd() * 7 * DAY)
      const msgId = String(24_000_000_000_000_000n + BigInt(i))
      inboundRows.push({
        at, from: b.openid, msgType: 'text', event: null, handledBy: 'unhandled', claimed: 0, reply: 'success', key: () => `msg:${msgId}`,
        xml: (ct) => xml(b.openid, ct, `<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好，请问发票什么时候开？]]></Content><MsgId>${msgId}</MsgId>`),
      })
    }
    inboundRows.sort((a, b) => a.at - b.at)
    for (const r of inboundRows) {
      const ct = Math.floor(r.at / 1000)
      ins.inbound.run(o.channelId, r.key(ct), r.msgType, r.event, r.from, ct, r.xml(ct), r.reply, r.handledBy, r.claimed, r.at)
      inbound++
    }

    // ---- webhook history (the last 6 days: deliveries are kept 7) -------------------------------------------------
    if (o.endpointId) {
      events.sort((a, b) => a.at - b.at)
      for (const e of events) {
        if (now - e.at > 6 * DAY) continue
        const id = timedId('evt', e.at)
        ins.event.run(id, e.type, o.channelId, eventBody(e.type, e.data, e.at), e.at)
        ins.delivery.run(timedId('whd', e.at), id, o.endpointId, e.at, e.at, e.at + 80, e.at + 80)
        webhookEvents++
      }
    }
    Object.assign(seeded, { subjects: nSubjects, sample: { ...sample, subject: [...bySubject].find(([, bs]) => bs.length > 1)![0], openid: pick(active).openid } })
  })()
  return { ...seeded, messages: o.messages, attempts, bindings: o.bindings, sendRequests, inbound, webhookEvents, byStatus, ms: performance.now() - t0 } as Seeded
}
