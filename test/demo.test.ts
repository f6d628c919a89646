/** `wxgate demo` as a new user runs it: it starts, and every curl line it prints works as printed. */
import { expect, test } from 'bun:test'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { startGatewayProcess } from './support/gateway-process'

test('the demo starts and its printed curl lines work as printed', async () => {
  const child = await startGatewayProcess({
    command: (port) => ({ cmd: [process.execPath, join(import.meta.dir, '..', 'src', 'main.ts'), 'demo', `--port=${port}`], env: { ...process.env, WXGATE_LOG_LEVEL: 'warn' } }),
    ready: ({ output }) => output.includes('Stop with Ctrl-C'),
  })
  const out = child.output()
  try {
    const lines = out.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('curl '))
    expect(lines.length).toBeGreaterThanOrEqual(5)
    const answers: string[] = []
    for (const line of lines) {
      const r = spawnSync('bash', ['-c', `${line.replace(/^curl /, 'curl -sS -w "\\n%{http_code}" ')}`], { encoding: 'utf8' })
      const status = r.stdout.trim().split('\n').at(-1)
      // 201 for the line that creates a bind code.
      expect(`${line}\n→ ${status}`).toBe(`${line}\n→ ${line.includes('/api/bindcode --') || line.endsWith('/api/bindcode') ? 201 : 200}`)
      answers.push(r.stdout)
    }
    // The sandbox's scan bound the sample code, in safe mode, with the Chinese reply.
    const scanAnswer = answers[lines.findIndex((l) => l.includes('/_sandbox/scan'))]!
    expect(scanAnswer).toContain('"replyText":"绑定成功"')
    expect(answers[lines.findIndex((l) => l.includes('/api/bindcode/'))]).toContain('"status":"bound"')
    expect(answers[lines.findIndex((l) => l.includes('/api/bindings?subject=demo-user'))]).toContain('"openid":"o_demo_user_0001"')
    // The account's templates with their fields and Chinese labels.
    const templates = answers[lines.findIndex((l) => l.endsWith('/api/channels/demo/templates'))]!
    expect(templates).toContain('{"key":"thing1","type":"thing","label":"商品名称"}')
    // The sample template message reached the bound user (sent: WeChat took it), then WeChat's
    // TEMPLATESENDJOBFINISH made it delivered. A person runs the status line a few seconds later; here it is
    // run again until then (the sandbox sends the event 200 ms after the send).
    expect(answers[lines.findIndex((l) => l.includes('/api/send?wait=true'))]).toMatch(/"status":"(sent|delivered)"/)
    const statusLine = lines.find((l) => l.includes('/api/messages?subject=demo-user'))!
    let status = answers[lines.indexOf(statusLine)]!
    // The template message (the user also got the customer-service messages of "Answer users").
    // (The first answer ends with the status line curl's -w added.)
    const templateMessage = (text: string) => (JSON.parse(text.trim().replace(/\n\d{3}$/, '')) as { items: Record<string, unknown>[] }).items.find((m) => m.templateId === 'TPL_DEMO_ORDER_PAID')
    for (let i = 0; i < 50 && templateMessage(status)?.status !== 'delivered'; i++) {
      await Bun.sleep(100)
      status = spawnSync('bash', ['-c', statusLine.replace(/^curl /, 'curl -sS ')], { encoding: 'utf8' }).stdout
    }
    const life = templateMessage(status)!
    expect(life).toMatchObject({ status: 'delivered', subject: 'demo-user', templateId: 'TPL_DEMO_ORDER_PAID', attempts: 1 })
    expect(life.wechatMsgId).toMatch(/^\d{19}$/)
    expect(Date.parse(String(life.createdAt)) <= Date.parse(String(life.sentAt))).toBe(true)
    expect(Date.parse(String(life.sentAt)) <= Date.parse(String(life.finishedAt))).toBe(true)
    expect(answers[lines.findIndex((l) => l.includes('/_sandbox/delivered'))]).toContain('"touser":"o_demo_user_0001"')
    // Events out: the sandbox user said 你好 (the gateway answered WeChat 200), and the demo inbox got the
    // message.received event, its signature verified with standardwebhooks. A person runs the inbox line a
    // moment later; here it is run again until the worker has delivered (deadline 10 s).
    // Each answer ends with the status line curl's -w added.
    const said = JSON.parse(answers[lines.findIndex((l) => l.includes('/_sandbox/message'))]!.trim().split('\n').slice(0, -1).join('\n')) as Record<string, unknown>
    expect(said).toMatchObject({ openid: 'o_demo_user_0001', msgType: 'text', status: 200, attempts: 1 })
    // The demo's reply hook answered it: the passive reply WeChat passed on to the user.
    expect(said.replyText).toBe('你说：你好')
    // A slow answer (慢): WeChat was answered success in time, without a passive reply.
    const slow = JSON.parse(answers[lines.findIndex((l) => l.includes('慢一点'))]!.trim().split('\n').slice(0, -1).join('\n')) as Record<string, unknown>
    expect(slow).toMatchObject({ status: 200, attempts: 1 })
    expect(slow.replyText).toBeUndefined()
    // Answered by hand: the customer-service message was sent to the sandbox user.
    expect(answers[lines.findIndex((l) => l.includes('/reply?wait=true'))]).toContain('"status":"sent"')
    // The slow answer reaches the user as a customer-service message a few seconds later.
    const receivedLine = lines.find((l) => l.includes('/_sandbox/users/o_demo_user_0001/received'))!
    const got = () => spawnSync('bash', ['-c', receivedLine.replace(/^curl /, 'curl -sS ')], { encoding: 'utf8' }).stdout
    let inbox = got()
    for (let i = 0; i < 100 && !inbox.includes('你说：慢一点'); i++) { await Bun.sleep(100); inbox = got() }
    expect(inbox).toContain('你说：慢一点')
    expect(inbox).toContain('人工回复：已收到')
    const inboxLine = lines.find((l) => l.includes('/events?type=message.received'))!
    const received = () => (JSON.parse(spawnSync('bash', ['-c', inboxLine.replace(/^curl /, 'curl -sS ')], { encoding: 'utf8' }).stdout) as { events: Record<string, any>[] }).events
    let events = received()
    for (let i = 0; i < 100 && !events.some((e) => e.data?.content === '你好'); i++) {
      await Bun.sleep(100)
      events = received()
    }
    const hello = events.find((e) => e.data?.content === '你好')
    expect(hello).toMatchObject({
      verified: true, type: 'message.received', attempts: 1,
      data: { channel: 'demo', openid: 'o_demo_user_0001', subject: 'demo-user', msgType: 'text', msgId: said.msgId, content: '你好' },
    })
    expect(hello!.webhookId).toMatch(/^evt_/)
    // Every event the inbox got was verified (the scan's binding.created, the message's sent/delivered, …).
    const all = (JSON.parse(spawnSync('bash', ['-c', lines.find((l) => l.endsWith('/events'))!.replace(/^curl /, 'curl -sS ')], { encoding: 'utf8' }).stdout) as { events: Record<string, any>[] }).events
    expect(all.length).toBeGreaterThanOrEqual(2)
    expect(all.filter((e) => !e.verified)).toEqual([])
    // The printed doctor line checks the demo channel against the sandbox, every check ok.
    const doctor = out.split('\n').map((l) => l.trim()).find((l) => l.includes(' doctor --url '))!
    const d = spawnSync('bash', ['-c', doctor], { encoding: 'utf8' })
    expect(`${doctor}\n→ exit ${d.status}\n${d.stdout}${d.stderr}`).toContain('→ exit 0')
    expect(d.stdout).toContain('ok   appid/appsecret')
    expect(d.stdout).toContain('ok   callback url')
    // The printed console link signs in once: the overview of the demo channel; the same link again is the form.
    const link = /console:\s+(\S+\/console\/login\/once\/\S+)/.exec(out)?.[1]
    expect(link).toBeDefined()
    const first = await fetch(link!, { redirect: 'manual' })
    expect(first.status).toBe(303)
    const cookie = /wxgate_console=[^;]+/.exec(first.headers.get('set-cookie') ?? '')?.[0]
    expect(cookie).toBeDefined()
    const overview = await fetch(new URL('/console', link!), { headers: { cookie: cookie! } })
    expect(overview.status).toBe(200)
    expect(await overview.text()).toContain('wxd3m0000000000001')
    expect((await fetch(link!, { redirect: 'manual' })).headers.get('location')).toBe('/console/login')
  } finally {
    await child.stop('SIGTERM')
  }
}, 30_000)
