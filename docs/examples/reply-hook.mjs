// A reply hook for wxgate (Node 18+): npm install standardwebhooks
// WXGATE_HOOK_SECRET=whsec_… PORT=8080 node reply-hook.mjs
import { createServer } from 'node:http'
import { Webhook } from 'standardwebhooks'

const wh = new Webhook(process.env.WXGATE_HOOK_SECRET) // the secret POST /api/webhooks showed once

// What to answer: R of "Answer users", or undefined for no reply. Be quick: the budget is 3 s.
const answer = (event) => {
  if (event.type === 'message.received' && event.data.msgType === 'text') return { type: 'text', content: `你说：${event.data.content}` }
  if (event.type === 'user.subscribed') return { type: 'text', content: '欢迎关注！' }
  return undefined
}

const server = createServer((req, res) => {
  const chunks = []
  req.on('data', (c) => chunks.push(c))
  req.on('end', () => {
    let event
    try {
      event = wh.verify(Buffer.concat(chunks).toString('utf8'), req.headers)
    } catch {
      res.writeHead(401).end()
      return
    }
    const reply = answer(event)
    if (!reply) {
      res.writeHead(204).end()
      return
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ reply }))
  })
})
const port = Number(process.env.PORT ?? 8080)
server.listen(port, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${port}`))
