/**
 * SPEC §5: no secret in any log line, also for a channel added by the CLI (another connection to the same
 * database) while the server runs, and for short callback Tokens.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createChannelService } from '../src/domain/channel.service'
import { systemClock } from '../src/lib/clock'
import { memoryLogger } from '../src/lib/log'
import type { Db } from '../src/store/contract'
import { openStore } from '../src/store/open'
import { post, signedQuery, startTestServer, textXml, type TestServer } from './support/server'

let server: TestServer
let cliDb: Db

beforeAll(async () => {
  server = await startTestServer()
  // The server's own database (its file, or on TEST_DB=postgres its PostgreSQL database), on a connection of its own.
  cliDb = (await openStore(server.deps.config.WXGATE_DB)).db
})
afterAll(async () => {
  await cliDb.close()
  await server.stop()
})

/**
 * What `wxgate channel add` does: its own process, its own connection and logger. Then waits until the server
 * serves the change (at once on SQLite; on PostgreSQL within the 2 s of SPEC §8, its version poll).
 */
const cliAdd = async (input: { id: string; appId: string; appSecret: string; token: string; aesKey?: string }) => {
  await createChannelService({ db: cliDb, clock: systemClock, log: memoryLogger('warn').logger, allowEmptyToken: false }).upsert(input)
  const t0 = Date.now()
  while ((await server.deps.channels.find(input.id))?.appSecret !== input.appSecret && Date.now() - t0 < 2000) await Bun.sleep(20)
}

/** A plaintext text message whose content mentions the secrets: logged (at debug) by the server. */
const callbackMentioning = async (channel: string, token: string, content: string) => {
  const q = signedQuery(token)
  const r = await post(`${server.url}/wechat/${channel}?${q.query}`, textXml({ content }))
  expect(r.status).toBe(200)
}

describe('secrets of a channel added by the CLI while the server runs', () => {
  test('never reach the log, nor after the CLI changes them; the callback Token is masked even at 3 characters', async () => {
    const first = { id: 'cli', appId: 'wx1111111111111111', appSecret: 'cli-app-secret-0123456789', token: 'Tk3', aesKey: 'Z'.repeat(42) + 'q' }
    await cliAdd(first)
    await callbackMentioning('cli', first.token, `leak ${first.appSecret} ${first.token} ${first.aesKey}`)
    server.deps.log.info('a careless line', { note: `${first.appSecret}/${first.token}/${first.aesKey}` })

    const changed = { ...first, appSecret: 'cli-app-secret-rotated-987', token: 'R2d2x', aesKey: 'Y'.repeat(42) + 'p' }
    await cliAdd(changed)
    await callbackMentioning('cli', changed.token, `leak ${changed.appSecret} ${changed.token} ${changed.aesKey}`)

    const log = server.logLines.join('\n')
    expect(log).toContain('"channel":"cli"')
    for (const s of [first.appSecret, first.token, first.aesKey, changed.appSecret, changed.token, changed.aesKey]) expect(log).not.toContain(s)
    // The change replaced the channel's secrets: the old ones are no longer held.
    const count = server.deps.log.secretCount()
    await cliAdd({ ...changed, appSecret: 'cli-app-secret-rotated-again' })
    await callbackMentioning('cli', changed.token, 'again')
    expect(server.deps.log.secretCount()).toBe(count)
  })
})
