/**
 * A real gateway process with one extra dispatch rule, for the crash test (test/http/callback-dedup.test.ts):
 * for a text message it writes a binding (a real effect, inside the callback transaction) and, with
 * SLOW_RULE=1, then sleeps synchronously, holding the transaction open until the test kills the process.
 * Settings come from the environment like `wxgate serve`.
 */
import { loadConfig } from '../../src/config'
import { openDeps } from '../../src/deps'
import type { Rule } from '../../src/domain/dispatch'
import { exitOnSignals, startServer } from '../../src/server'

const slow = process.env.SLOW_RULE === '1'
const rule: Rule = {
  name: 'crash-test-effect',
  match: (m) => m.msgType === 'text',
  handle: async ({ channel, message, store, now, log }) => {
    await store.bindings.bind({ id: `bnd_crash_${now}`, channelId: channel.id, openid: message.fromUserName, subject: 'crash-test', code: 'crash-test-code', now })
    if (slow) {
      log.info('crash-test rule: effect written, holding the transaction')
      Bun.sleepSync(30_000)
    }
    return { type: 'text', content: 'effect written' }
  },
}

const deps = await openDeps(loadConfig(), { rules: [rule] })
const started = startServer(deps)
exitOnSignals(started)
await started
