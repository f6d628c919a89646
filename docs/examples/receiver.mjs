// A receiver for wxgate's events (Node 18+): npm install standardwebhooks
// WXGATE_WEBHOOK_SECRET=whsec_… PORT=8080 node receiver.mjs
import { createServer } from 'node:http'
import { Webhook } from 'standardwebhooks'

const wh = new Webhook(process.env.WXGATE_WEBHOOK_SECRET) // the secret POST /api/webhooks showed once
// webhook-ids already handled: delivery is at least once. In production keep them in your
// database (a table with the id as its primary key), so a restart does not forget them.
const seen = new Set()

const handle = async (event) => {
  // The real work: update your CRM, notify someone, … (`data` is described in the event table).
  if (event.type === 'message.received') console.log(JSON.stringify({ handled: event.type, openid: event.data.openid, content: event.data.content }))
  else console.log(JSON.stringify({ handled: event.type }))
}

const server = createServer((req, res) => {
  const chunks = []
  req.on('data', (c) => chunks.push(c))
  req.on('end', () => {
    // Verify the raw bytes, before any JSON parsing: the signature covers the body exactly as sent.
    const body = Buffer.concat(chunks).toString('utf8')
    let event
    try {
      event = wh.verify(body, req.headers) // throws on a bad signature or a timestamp off by > 5 min
    } catch {
      res.writeHead(401).end()
      return
    }
    // Answer at once (wxgate waits 10 s, then retries), then do the work.
    res.writeHead(204).end()
    const id = req.headers['webhook-id']
    if (seen.has(id)) return
    seen.add(id)
    handle(event).catch((e) => console.error('event', id, 'failed:', e))
  })
})

server.listen(Number(process.env.PORT ?? 8080), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`)
})
