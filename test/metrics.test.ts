/** The metrics module on its own: hot-path cells reach the text exactly once, histogram buckets, bounded labels. */
import { describe, expect, test } from 'bun:test'
import { Counter, Histogram, Registry } from 'prom-client'
import { createMetrics, METRICS_CONTENT_TYPE, WEBHOOK_BUCKETS, WECHAT_API_BUCKETS, type OutboxDepth } from '../src/metrics'

const make = (o: { outbox?: OutboxDepth[]; now?: number } = {}) => createMetrics({
  version: '9.9.9',
  knownChannel: (id) => id === 'a' || id === 'b',
  channelIds: () => ['a', 'b'],
  outboxDepth: () => o.outbox ?? [],
  tokenExpiries: () => [{ channelId: 'a', expiresAt: (o.now ?? 0) + 7000_000 }, { channelId: 'b', expiresAt: null }],
  now: () => o.now ?? 0,
})
const lines = (text: string, prefix: string) => text.split('\n').filter((l) => l.startsWith(prefix))

describe('createMetrics', () => {
  test('counters count once however often they are scraped', async () => {
    const m = make()
    const ok = m.httpCounter('/wechat', 'POST')
    ok(200); ok(200); ok(401)
    m.callback('a', 0.002, 'text', 'handled')
    const first = await m.render()
    expect(lines(first, 'wxgate_http_requests_total{')).toEqual([
      'wxgate_http_requests_total{route="/wechat",method="POST",status="200"} 2',
      'wxgate_http_requests_total{route="/wechat",method="POST",status="401"} 1',
    ])
    const again = await m.render()
    expect(lines(again, 'wxgate_http_requests_total{')).toEqual(lines(first, 'wxgate_http_requests_total{'))
    expect(lines(again, 'wxgate_callbacks_total{')).toEqual(['wxgate_callbacks_total{channel="a",msg_type="text",outcome="handled"} 1'])
    ok(200)
    expect(lines(await m.render(), 'wxgate_http_requests_total{')[0]).toBe('wxgate_http_requests_total{route="/wechat",method="POST",status="200"} 3')
  })

  test('histogram: a value on a bound falls in that bucket; past the last bound only in +Inf', async () => {
    const m = make()
    m.callback('a', 0.001, 'text', 'handled')
    m.callback('a', 0.3, 'event', 'duplicate')
    m.callback('a', 6, 'text', 'deadline')
    const text = await m.render()
    const bucket = (le: string) => Number(lines(text, `wxgate_callback_duration_seconds_bucket{le="${le}",channel="a"}`)[0]?.split(' ')[1])
    expect(bucket('0.001')).toBe(1)
    expect(bucket('0.25')).toBe(1)
    expect(bucket('0.5')).toBe(2)
    expect(bucket('5')).toBe(2)
    expect(bucket('+Inf')).toBe(3)
    expect(lines(text, 'wxgate_callback_duration_seconds_count{channel="a"}')).toEqual(['wxgate_callback_duration_seconds_count{channel="a"} 3'])
    expect(lines(text, 'wxgate_callback_duration_seconds_sum{channel="a"}')).toEqual(['wxgate_callback_duration_seconds_sum{channel="a"} 6.301'])
    expect(text).toContain('# TYPE wxgate_callback_duration_seconds histogram\n')
  })

  test('labels stay bounded: unknown channels, message types and methods share one value', async () => {
    const m = make()
    for (let i = 0; i < 50; i++) m.callback(`junk-${i}`, 0.001, '', 'rejected')
    m.callback('b', 0.001, 'brand_new_type', 'handled')
    m.callbackEvents.onDuplicate('b')
    m.httpCounter('other', 'BREW')(404)
    const text = await m.render()
    expect(lines(text, 'wxgate_callbacks_total{')).toEqual([
      'wxgate_callbacks_total{channel="(unknown)",msg_type="",outcome="rejected"} 50',
      'wxgate_callbacks_total{channel="b",msg_type="other",outcome="handled"} 1',
    ])
    expect(text).not.toContain('junk-')
    expect(lines(text, 'wxgate_callback_duplicates_total{')).toEqual(['wxgate_callback_duplicates_total{channel="b"} 1'])
    expect(lines(text, 'wxgate_http_requests_total{')).toEqual(['wxgate_http_requests_total{route="other",method="other",status="404"} 1'])
  })

  test('scrape-time gauges: every channel has an outbox value; token expiry in seconds, 0 without a token', async () => {
    const now = 1_800_000_000_000
    const m = make({ now, outbox: [{ channelId: 'a', depth: 7, oldestCreatedAt: now - 42_000 }] })
    const text = await m.render()
    expect(lines(text, 'wxgate_outbox_depth{')).toEqual(['wxgate_outbox_depth{channel="a"} 7', 'wxgate_outbox_depth{channel="b"} 0'])
    expect(lines(text, 'wxgate_outbox_oldest_age_seconds{')).toEqual(['wxgate_outbox_oldest_age_seconds{channel="a"} 42', 'wxgate_outbox_oldest_age_seconds{channel="b"} 0'])
    expect(lines(text, 'wxgate_token_expiry_seconds{')).toEqual(['wxgate_token_expiry_seconds{channel="a"} 7000', 'wxgate_token_expiry_seconds{channel="b"} 0'])
    expect(lines(text, 'wxgate_build_info')).toEqual(['wxgate_build_info{version="9.9.9"} 1'])
  })

  test('two instances do not share anything', async () => {
    const a = make()
    const b = make()
    a.httpCounter('/api/send', 'POST')(202)
    expect(await b.render()).not.toContain('/api/send')
    expect(await a.render()).toContain('wxgate_http_requests_total{route="/api/send",method="POST",status="202"} 1')
  })

  test('prom-client is the reference: the cold-path counters and histograms give its own text, and its content type', async () => {
    expect(METRICS_CONTENT_TYPE).toBe(Registry.PROMETHEUS_CONTENT_TYPE)
    const m = make()
    const ref = new Registry()
    const registers = [ref]
    const apiDuration = new Histogram({ name: 'wxgate_wechat_api_duration_seconds', help: 'x', labelNames: ['endpoint'], buckets: WECHAT_API_BUCKETS, registers })
    const apiErrors = new Counter({ name: 'wxgate_wechat_api_errors_total', help: 'x', labelNames: ['endpoint', 'errcode'], registers })
    const hookDuration = new Histogram({ name: 'wxgate_webhook_delivery_duration_seconds', help: 'x', labelNames: ['endpoint'], buckets: WEBHOOK_BUCKETS, registers })
    const hookResults = new Counter({ name: 'wxgate_webhook_deliveries_total', help: 'x', labelNames: ['endpoint', 'outcome'], registers })
    const calls: [string, number, string | undefined][] = [['/cgi-bin/stable_token', 0.03, undefined], ['/cgi-bin/message/template/send', 0.01, '45009'],
      ['/cgi-bin/message/template/send', 7, 'timeout'], ['/cgi-bin/stable_token', 0.25, undefined], ['/cgi-bin/message/template/send', 0.01, '45009']]
    for (const [endpoint, seconds, error] of calls) {
      m.wechatCall(endpoint, seconds, error)
      apiDuration.observe({ endpoint }, seconds)
      if (error !== undefined) apiErrors.inc({ endpoint, errcode: error })
    }
    const hooks: [string, 'delivered' | 'retry' | 'failed', number][] = [['wh_1', 'delivered', 0.004], ['wh_1', 'retry', 10], ['wh_2', 'delivered', 0.05], ['wh_1', 'delivered', 0.005]]
    for (const [endpoint, outcome, seconds] of hooks) {
      m.webhookResult(endpoint, outcome, seconds)
      hookDuration.observe({ endpoint }, seconds)
      hookResults.inc({ endpoint, outcome })
    }
    const ours = await m.render()
    const theirs = await ref.metrics()
    for (const name of ['wxgate_wechat_api_duration_seconds', 'wxgate_wechat_api_errors_total', 'wxgate_webhook_delivery_duration_seconds', 'wxgate_webhook_deliveries_total']) {
      const samples = (text: string) => lines(text, name).filter((l) => !l.startsWith('#')).sort()
      expect({ name, samples: samples(ours) }).toEqual({ name, samples: samples(theirs) })
      expect(samples(ours).length).toBeGreaterThan(0)
    }
  })
})
