/** The customer-service window rule (src/domain/window.ts) with injected times. */
import { describe, expect, test } from 'bun:test'
import { interactionKind, openedBy, windowAt, type Interaction } from '../../src/domain/window'

const T = Date.UTC(2026, 11, 1, 8, 0, 0)
const H = 3600_000
let order = 0
const at = (kind: Interaction['kind'], ms: number): Interaction => ({ kind, at: T + ms, order: ++order })
const none = () => 0

describe('the window', () => {
  test('a message opens 48 hours for 5; closed at its end', () => {
    const i = [at('message', 0)]
    expect(windowAt(T + 47 * H, i, () => 2)).toEqual({ open: true, until: T + 48 * H, sent: 2, quota: 5 })
    expect(windowAt(T + 48 * H, i, none)).toEqual({ open: false, sent: 0 })
  })

  test('a click, follow or scan opens 1 minute for 3', () => {
    const i = [at('short', 0)]
    expect(windowAt(T + 59_999, i, none)).toEqual({ open: true, until: T + 60_000, sent: 0, quota: 3 })
    expect(windowAt(T + 60_000, i, none).open).toBe(false)
  })

  test('a click does not shorten an open 48-hour window; after it ended, a click opens a minute', () => {
    expect(openedBy([at('message', 0), at('short', H)])).toEqual({ openedAt: T, until: T + 48 * H, quota: 5 })
    expect(openedBy([at('message', 0), at('short', 49 * H)])).toEqual({ openedAt: T + 49 * H, until: T + 49 * H + 60_000, quota: 3 })
  })

  test('a message after a click opens 48 hours; sent counts from when it opened', () => {
    let since = 0
    const w = windowAt(T + 2 * H, [at('short', 0), at('message', H)], (s) => { since = s; return 1 })
    expect(w).toMatchObject({ open: true, until: T + 49 * H, sent: 1 })
    expect(since).toBe(T + H)
  })

  test('an unsubscribe after the last interaction closes it; a later follow opens a minute', () => {
    expect(windowAt(T + H, [at('message', 0), at('unsubscribe', 1000)], none)).toEqual({ open: false, sent: 0 })
    expect(windowAt(T + 2000, [at('message', 0), at('unsubscribe', 1000), at('short', 1500)], none)).toMatchObject({ open: true, until: T + 1500 + 60_000 })
  })

  test('arrival order decides, not the order given', () => {
    const m = at('message', 0)
    const u = at('unsubscribe', 1000)
    expect(openedBy([u, m])).toBeUndefined()
  })

  test('what counts: any user message; only CLICK, scancode_push, scancode_waitmsg, subscribe, SCAN among events', () => {
    expect(interactionKind('text', null)).toBe('message')
    expect(interactionKind('image', null)).toBe('message')
    for (const e of ['CLICK', 'scancode_push', 'scancode_waitmsg', 'subscribe', 'SCAN']) expect(interactionKind('event', e)).toBe('short')
    expect(interactionKind('event', 'unsubscribe')).toBe('unsubscribe')
    for (const e of ['VIEW', 'LOCATION', 'TEMPLATESENDJOBFINISH', 'pic_sysphoto']) expect(interactionKind('event', e)).toBeUndefined()
  })
})
