/**
 * @module `wxgate demo`: the gateway in sandbox mode on a fresh database in a temporary folder, with a
 * demo channel and a demo API key, printing ready-to-paste lines. No WeChat account is needed.
 * The callback timestamp window is off in the demo so that the printed signed URLs keep working.
 * It also serves a demo inbox (demo-inbox.ts) with a webhook endpoint subscribed to every event, so the
 * events out can be seen, signature verified, without writing a receiver.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { loadConfig, startEnvironment } from './config'
import { SLOW_MS, startDemoInbox } from './demo-inbox'
import { createDeps } from './deps'
import { DEFAULT_FINISH_DELAY_MS, DEMO_ACCOUNT, DEMO_TEMPLATES, startSandbox } from './sandbox'
import { systemRandom, randomAlnum } from './lib/random'
import { exitOnSignals, startServer } from './server'
import { sha1Signature } from './wechat/signature'

export const DEMO_CHANNEL = { id: 'demo', appId: DEMO_ACCOUNT.appId, appSecret: DEMO_ACCOUNT.appSecret, token: 'demotoken', name: 'wxgate 演示服务号' }

/** How to run this same wxgate again: the compiled binary, or Bun with the source from a checkout. */
const selfCommand = (): string =>
  basename(process.execPath).startsWith('bun') ? `${process.execPath} ${process.argv[1] ?? 'src/main.ts'}` : process.execPath

export const runDemo = async (args: string[]): Promise<number> => {
  const port = Number(/^--port=(\d+)$/.exec(args.find((a) => a.startsWith('--port=')) ?? '')?.[1] ?? process.env.WXGATE_PORT ?? 3000)
  const dir = mkdtempSync(join(tmpdir(), 'wxgate-demo-'))
  // The sandbox WeChat runs in this process: the gateway talks to it over loopback HTTP exactly as to
  // api.weixin.qq.com. After each delivered template message it sends WeChat's TEMPLATESENDJOBFINISH event to
  // the gateway, so a demo message goes on from `sent` to `delivered`. It waits DEFAULT_FINISH_DELAY_MS (200 ms)
  // first: the gateway records the msgid a few milliseconds after WeChat's answer, and an event that came
  // before that would find no message and be ignored; 200 ms makes that practically impossible.
  const sandbox = await startSandbox({ accounts: [DEMO_ACCOUNT], templateFinish: { delayMs: DEFAULT_FINISH_DELAY_MS, status: 'success' } })
  // The environment the process started with (not what Bun may have loaded from a .env: the demo reads none).
  const config = loadConfig({
    ...startEnvironment({}),
    WXGATE_DB: join(dir, 'wxgate.db'),
    WXGATE_PORT: String(port),
    WXGATE_CHANNEL: DEMO_CHANNEL.id,
    WXGATE_CALLBACK_MAX_AGE: '0',
    WXGATE_WECHAT_API: sandbox.url,
    WXGATE_APPID: '', WXGATE_APPSECRET: '', WXGATE_TOKEN: '', WXGATE_AES_KEY: '',
  }, '')
  // The bind page gets a "模拟扫码" button: the sandbox sends the scan event a phone would cause.
  const deps = createDeps(config, { simulateScan: (code) => sandbox.scan({ scene: code, appId: DEMO_ACCOUNT.appId }) })
  const aesKey = randomAlnum(systemRandom, 43)
  await deps.channels.upsert({ ...DEMO_CHANNEL, aesKey })
  const { key } = await deps.apiKeys.create('demo', ['admin'])
  // The demo inbox: created before the server starts, so that no event of the demo finds it missing.
  const inbox = startDemoInbox()
  const hook = await deps.webhooks.create({ url: inbox.webhookUrl, events: ['*'], description: 'wxgate demo inbox' })
  inbox.setSecret(hook.secret)
  // The demo's reply hook (SPEC §7), served by the inbox: it answers the demo channel's users.
  const replyHook = await deps.webhooks.create({ url: inbox.replyUrl, channel: DEMO_CHANNEL.id, reply: true, description: 'wxgate demo reply hook' })
  inbox.setReplySecret(replyHook.secret)
  const started = startServer(deps)
  exitOnSignals(started)
  const server = await started

  const base = server.url
  // Scans in the sandbox are delivered to this gateway in safe mode, as WeChat would.
  sandbox.setCallback(DEMO_ACCOUNT.appId, { url: `${base}/wechat/${DEMO_CHANNEL.id}`, token: DEMO_CHANNEL.token, aesKey })
  const consoleLink = await deps.consoleSessions.signInLink(key)
  const sample = await deps.bind.create({ subject: 'demo-user', label: '演示用户 Demo user', ttlSeconds: 3600 }, { bindUrlBase: base })
  const auth = `-H "Authorization: Bearer ${key}"`
  const ts = String(Math.floor(Date.now() / 1000))
  const nonce = '12345'
  const sig = sha1Signature([DEMO_CHANNEL.token, ts, nonce])
  const xml = `<xml><ToUserName><![CDATA[gh_demo]]></ToUserName><FromUserName><![CDATA[o_demo_user]]></FromUserName><CreateTime>${ts}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好]]></Content><MsgId>${ts}000001</MsgId></xml>`
  const lines = [
    '',
    'wxgate demo is running (sandbox mode, nothing is sent to WeChat).',
    `  database:   ${config.WXGATE_DB}`,
    `  callback:   ${base}/wechat   (channel "${DEMO_CHANNEL.id}", token "${DEMO_CHANNEL.token}")`,
    `  console:    ${base}/console/login/once/${consoleLink}   (signs you in, once, within 10 minutes; then sign in at ${base}/console with the API key)`,
    `  API docs:   ${base}/docs`,
    `  API key:    ${key}`,
    `  sandbox WeChat API: ${sandbox.url}   (control: ${sandbox.url}/_sandbox/received)`,
    `  demo inbox: ${inbox.eventsUrl}   (webhook ${hook.id}, every event, verified with standardwebhooks)`,
    '',
    'Try it:',
    `  curl "${base}/wechat?signature=${sig}&timestamp=${ts}&nonce=${nonce}&echostr=hello"`,
    `  curl -X POST -H 'content-type: text/xml' --data '${xml}' "${base}/wechat?signature=${sig}&timestamp=${ts}&nonce=${nonce}"`,
    `  curl ${auth} ${base}/api/channels`,
    `  curl ${auth} ${base}/api/channels/${DEMO_CHANNEL.id}/access-token`,
    `  curl ${auth} ${base}/api/channels/${DEMO_CHANNEL.id}/token`,
    `  curl ${sandbox.url}/_sandbox/received`,
    '',
    'Bind a WeChat user by QR code (no phone needed):',
    `  1. open ${sample.bindUrl} in a browser and press 模拟扫码 (simulate scan); it turns to 已绑定 by itself`,
    '  2. or let the sandbox scan it from the command line, then look at the code and the binding:',
    `  curl -X POST -H 'content-type: application/json' --data '{"scene":"${sample.code}"}' ${sandbox.url}/_sandbox/scan`,
    `  curl ${auth} ${base}/api/bindcode/${sample.code}`,
    `  curl ${auth} "${base}/api/bindings?subject=demo-user"`,
    '  3. the templates of the account and their fields (the keys a send\'s "data" takes):',
    `  curl ${auth} ${base}/api/channels/${DEMO_CHANNEL.id}/templates`,
    '     send the bound user the "order paid" one, then read its status: sent at once, delivered a moment later',
    '     (WeChat\'s TEMPLATESENDJOBFINISH event, which the sandbox sends as WeChat would):',
    `  curl -X POST ${auth} -H 'content-type: application/json' --data '{"to":"demo-user","templateId":"${DEMO_TEMPLATES[0]}","data":{"thing1":"巧克力","amount2":"¥39.80","time3":"2026年11月24日 15:01"}}' "${base}/api/send?wait=true"`,
    `  curl ${auth} "${base}/api/messages?subject=demo-user"`,
    `  curl ${sandbox.url}/_sandbox/delivered`,
    '  4. a code for one of your own users (the answer has its bindUrl):',
    `  curl -X POST ${auth} -H 'content-type: application/json' --data '{"subject":"u-42","label":"张三 (CRM)"}' ${base}/api/bindcode`,
    `  curl ${base}/healthz`,
    '',
    'Events out (webhooks): the demo inbox is an endpoint subscribed to "*"; make the sandbox user say 你好',
    '(WeChat delivers it to the gateway, signed and encrypted), then see the event that reached the inbox:',
    `  curl -X POST -H 'content-type: application/json' --data '{"text":"你好"}' ${sandbox.url}/_sandbox/message`,
    `  curl "${inbox.eventsUrl}?type=message.received"`,
    `  curl ${inbox.eventsUrl}`,
    '     (also {"click":"MENU_KEY"}, {"view":"https://example.com/"} or {"image":{}}; your own receiver: README "Receive events")',
    '',
    `Answer users: the demo inbox is also a reply hook (${replyHook.id}) that answers "你说：<text>"; the 你好 above got`,
    'that passive reply at once ("replyText" in the sandbox\'s answer). A text with 慢 is answered after '+`${SLOW_MS / 1000} s,`,
    'past the 3 s budget: WeChat gets success in time, and the late answer goes to the user as a customer-service',
    'message (README "Answer users"):',
    `  curl -X POST -H 'content-type: application/json' --data '{"text":"慢一点"}' ${sandbox.url}/_sandbox/message`,
    '  what the sandbox user received (the late answer arrives a few seconds later, as a customer-service message):',
    `  curl ${sandbox.url}/_sandbox/users/o_demo_user_0001/received`,
    '  answer the user\'s latest message by hand (POST /api/inbound/:id/reply; the id comes from GET /api/inbound):',
    `  curl -X POST ${auth} -H 'content-type: application/json' --data '{"type":"text","text":{"content":"人工回复：已收到，稍后联系您"}}' "${base}/api/inbound/$(curl -s ${auth} '${base}/api/inbound?openid=o_demo_user_0001&limit=1' | grep -o 'in_[0-9]*' | head -1)/reply?wait=true"`,
    '',
    'Check the demo channel the way you will check your real account (wxgate doctor, against the sandbox):',
    `  WXGATE_DB=${config.WXGATE_DB} WXGATE_WECHAT_API=${sandbox.url} WXGATE_CHANNEL=${DEMO_CHANNEL.id} ${selfCommand()} doctor --url ${base}/wechat`,
    '',
    'Stop with Ctrl-C.',
    '',
  ]
  process.stdout.write(lines.join('\n'))
  return -1
}
