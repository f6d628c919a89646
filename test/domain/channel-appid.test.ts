/** SPEC §2: an AppID that is the 原始ID (gh_…) is refused with where the AppID is found, also for channels added by the API or CLI. */
import { expect, test } from 'bun:test'
import { createChannelService } from '../../src/domain/channel.service'
import { systemClock } from '../../src/lib/clock'
import { ValidationError } from '../../src/lib/errors'
import { memoryLogger } from '../../src/lib/log'
import { openDb } from '../../src/store/sqlite/db'
import { migrate } from '../../src/store/sqlite/migrate'

test('channel upsert refuses a gh_ original ID, naming the field and the admin page of the AppID', async () => {
  const db = openDb(':memory:')
  migrate(db.sqlite)
  const channels = createChannelService({ db, clock: systemClock, log: memoryLogger().logger, allowEmptyToken: false })
  const e = await channels.upsert({ id: 'x', appId: 'gh_0123456789ab', appSecret: 's', token: 'tok' }).catch((err: unknown) => err)
  expect(e).toBeInstanceOf(ValidationError)
  expect((e as Error).message).toStartWith('appId: ')
  expect((e as Error).message).toContain('公众号后台 → 设置与开发 → 基本配置 → 开发者ID(AppID)')
  expect((await channels.upsert({ id: 'x', appId: 'wx0123456789abcdef', appSecret: 's', token: 'tok' })).created).toBe(true)
  db.close()
})
