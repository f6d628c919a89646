/**
 * @module The public bind page: `GET /bind/:code` (HTML), `GET /bind/:code/status` (JSON with the status
 * alone: the 128-bit code is the only key, and nothing about who it is for is revealed), and in the demo
 * only `POST /bind/:code/simulate-scan`. These are the routes to expose through nginx besides /wechat
 * when colleagues open bind links from outside the office network.
 */
import { Elysia } from 'elysia'
import { z } from 'zod'
import type { BindService, SimulateScan } from '../domain/bind.service'
import { NotFoundError } from '../lib/errors'
import type { Clock } from '../lib/clock'
import type { Random } from '../lib/random'
import { bindPageHeaders, renderBindMessagePage, renderBindPage } from './bind-page'
import { ErrorBody } from './errors'

export const BindStatusBody = z.object({ status: z.enum(['pending', 'bound', 'expired']) }).meta({ id: 'BindStatus' })

const Params = z.object({ code: z.string() })

/** WeChat's in-app browser on a phone ("MicroMessenger"; the desktop apps add WindowsWechat/MacWechat and have no long press). */
export const isWeChatMobile = (ua: string) => /MicroMessenger/i.test(ua) && !/WindowsWechat|MacWechat/i.test(ua)

export const bindPageRoutes = (deps: { bind: BindService; clock: Clock; random: Random; simulateScan?: SimulateScan }) => {
  const html = (status: number, body: string, nonce: string) => new Response(body, { status, headers: bindPageHeaders(nonce) })
  const app = new Elysia({ name: 'routes/bind-page' })
    .get('/bind/:code', async ({ params, request }) => {
      const nonce = Buffer.from(deps.random.bytes(16)).toString('base64')
      const p = await deps.bind.page(params.code)
      if (!p) {
        return html(404, renderBindMessagePage({ title: '二维码不存在 / Unknown code', message: '请向管理员重新获取绑定链接。Ask for a new bind link.', nonce }), nonce)
      }
      // Relative links, so the page also works behind a path prefix (nginx `location /wxgate/`).
      const self = `./${encodeURIComponent(params.code)}`
      return html(200, renderBindPage({
        status: p.status,
        ...(p.label ? { label: p.label } : {}),
        ...(p.accountName ? { accountName: p.accountName } : {}),
        qrContent: p.qrContent,
        secondsLeft: Math.max(0, Math.ceil((p.expiresAt - deps.clock.now()) / 1000)),
        statusUrl: `${self}/status`,
        nonce,
        ...(deps.simulateScan ? { simulateScanUrl: `${self}/simulate-scan` } : {}),
        inWeChat: isWeChatMobile(request.headers.get('user-agent') ?? ''),
      }), nonce)
    }, {
      params: Params,
      detail: { tags: ['Bind page'], summary: 'The bind page: QR code, time left, turns to "已绑定 / bound" by itself (HTML)' },
    })
    .get('/bind/:code/status', async ({ params, set }) => {
      const p = await deps.bind.page(params.code)
      if (!p) throw new NotFoundError('unknown code')
      set.headers['cache-control'] = 'no-store'
      return { status: p.status }
    }, {
      params: Params,
      response: { 200: BindStatusBody, 404: ErrorBody },
      detail: { tags: ['Bind page'], summary: 'Status of a bind code, for the bind page (public: reveals the status only)' },
    })
  if (!deps.simulateScan) return app
  const simulate = deps.simulateScan
  return app.post('/bind/:code/simulate-scan', async ({ params }) => {
    if (!(await deps.bind.page(params.code))) throw new NotFoundError('unknown code')
    await simulate(params.code)
    return { status: (await deps.bind.page(params.code))!.status }
  }, {
    params: Params,
    response: { 200: BindStatusBody, 404: ErrorBody },
    detail: { tags: ['Bind page'], summary: 'Demo only: the sandbox WeChat sends the scan event of this code, as a phone would' },
  })
}
