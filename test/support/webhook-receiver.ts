/**
 * A real webhook receiver on a loopback port: every request is verified with the third-party verifier
 * (npm standardwebhooks, `new Webhook(secret).verify(body, headers)`) and recorded.
 */
import { setSystemTime } from 'bun:test'
import { Webhook } from 'standardwebhooks'

export interface Received {
  id: string
  timestamp: number
  signature: string
  body: string
  headers: Record<string, string>
  /** Did standardwebhooks verify it with the receiver's secret (at the gateway's time)? */
  verified: boolean
  /** The status this receiver answered. */
  answered: number
  at: number
}

export interface Receiver {
  url: string
  received: Received[]
  /** The secret to verify with (set after the endpoint is created). */
  secret?: string
  stop(): Promise<void>
}

/**
 * Verifies as a receiver would at `nowMs` (default: wall time). The verifier reads Date.now() for its
 * ±5 min tolerance; a test on an injected clock moves it to the gateway's time for the call.
 */
export const verifyAt = (secret: string, body: string, headers: Record<string, string>, nowMs?: number): boolean => {
  try {
    if (nowMs !== undefined) setSystemTime(new Date(nowMs))
    new Webhook(secret).verify(body, headers)
    return true
  } catch {
    return false
  } finally {
    if (nowMs !== undefined) setSystemTime()
  }
}

export const startReceiver = (opts: {
  /** The answer (default 204); may wait or return anything. Called after verification. */
  answer?: (r: Received, req: Request) => Response | Promise<Response>
  /** The gateway's clock, when it is injected. */
  now?: () => number
} = {}): Receiver => {
  const rec: Receiver = {
    url: '',
    received: [],
    stop: async () => { await server.stop(true) },
  }
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    idleTimeout: 60,
    fetch: async (req) => {
      const body = await req.text()
      const headers: Record<string, string> = {}
      req.headers.forEach((v, k) => { headers[k] = v })
      const r: Received = {
        id: headers['webhook-id'] ?? '',
        timestamp: Number(headers['webhook-timestamp']),
        signature: headers['webhook-signature'] ?? '',
        body,
        headers,
        verified: rec.secret !== undefined && verifyAt(rec.secret, body, headers, opts.now?.()),
        answered: 0,
        at: performance.now(),
      }
      rec.received.push(r)
      const res = opts.answer ? await opts.answer(r, req) : new Response(null, { status: 204 })
      r.answered = res.status
      return res
    },
  })
  rec.url = `http://127.0.0.1:${server.port}/hook`
  return rec
}

/** Waits until `cond` holds, polling; throws after `ms` with `what`. */
export const until = async (what: string, cond: () => boolean | Promise<boolean>, ms = 15_000, every = 20): Promise<void> => {
  const deadline = Date.now() + ms
  for (;;) {
    if (await cond()) return
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await Bun.sleep(every)
  }
}
