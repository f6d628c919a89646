/**
 * @module The TEMPLATESENDJOBFINISH event: WeChat reports to the account's server URL whether a template
 * message it accepted reached the user (`Status` success, `failed:user block`, `failed: system failed`;
 * PROTOCOL.md §3.2). The sandbox sends it a set delay after each delivery, signed and encrypted as scans are.
 * https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Template_Message_Interface.html (事件推送)
 */
import { unixSeconds } from '../lib/clock'
import { cdata } from '../wechat/xml'
import { originalIdOf, pushEvent, type PushContext } from './push'
import type { SandboxState } from './sandbox.state'
import type { DeliveredMessage, TemplateFinishOptions } from './sandbox.types'

/**
 * 200 ms: the gateway stores the msgid from WeChat's answer a few milliseconds after reading it, and an event
 * that comes before that finds no message with its MsgID and is ignored; 200 ms is far beyond that store even
 * on a loaded machine, and still short enough that a person (or the demo's next curl) sees `delivered`.
 */
export const DEFAULT_FINISH_DELAY_MS = 200

/** The settings in force, from the options: undefined is the default (on), false is off. */
export const finishSettings = (opts: TemplateFinishOptions | false | undefined, current?: { delayMs: number; status: string } | false) => {
  if (opts === false) return false
  const base = current || { delayMs: DEFAULT_FINISH_DELAY_MS, status: 'success' }
  const delayMs = opts?.delayMs ?? base.delayMs
  if (!(Number.isFinite(delayMs) && delayMs >= 0)) throw new Error(`sandbox: templateFinish delayMs must be >= 0: ${delayMs}`)
  const status = opts?.status ?? base.status
  if (status === '') throw new Error('sandbox: templateFinish status is empty')
  return { delayMs, status }
}

/** The event as WeChat sends it: MsgID (capital ID) a bare number, Status in CDATA. */
export const templateFinishXml = (p: { toUser: string; openid: string; createTime: number; msgId: string; status: string }): string =>
  `<xml><ToUserName>${cdata(p.toUser)}</ToUserName><FromUserName>${cdata(p.openid)}</FromUserName>` +
  `<CreateTime>${p.createTime}</CreateTime><MsgType>${cdata('event')}</MsgType><Event>${cdata('TEMPLATESENDJOBFINISH')}</Event>` +
  `<MsgID>${p.msgId}</MsgID><Status>${cdata(p.status)}</Status></xml>`

/**
 * Schedules the event for one delivery, with the settings in force now; it goes to the callback target the
 * account has when it fires (none: nothing is sent). Returns a cancel function (the sandbox stops); `onFired`
 * is called when the timer fires.
 */
export const scheduleTemplateFinish = (state: SandboxState, d: DeliveredMessage, ctx: PushContext, onFired?: () => void): (() => void) | undefined => {
  const settings = state.templateFinish
  if (settings === false) return undefined
  const timer = setTimeout(() => {
    onFired?.()
    const target = state.accounts.get(d.appId)?.callback
    if (!target || ctx.stopping.aborted) return
    const xml = templateFinishXml({ toUser: originalIdOf(d.appId), openid: d.touser, createTime: unixSeconds(state.clock), msgId: d.msgid, status: settings.status })
    // Nobody awaits a report: its outcome (the gateway's answer) matters to the gateway's state only.
    pushEvent(state, d.appId, target, d.touser, xml, ctx).catch(() => undefined)
  }, settings.delayMs)
  return () => clearTimeout(timer)
}
