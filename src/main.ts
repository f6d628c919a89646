#!/usr/bin/env bun
/**
 * @module The CLI: parse args, load settings, run a command. The only file with side effects at import.
 * Exit codes: 0 ok, 1 failure, 2 bad setting or usage. A database that cannot be opened is 1: the setting
 * is well-formed and the filesystem refused it (the message says what to change there).
 * Every command that opens the database prints `database: /abs/path` on stderr once it is open (doctor:
 * before its checks, which report a failure to open themselves), so a key made against the wrong file is
 * noticed at once.
 */
import { parseArgs } from 'node:util'
import { ConfigInvalid, loadSettings, type Config } from './config'
import { createDeps } from './deps'
import { ALL_SCOPES, parseScopes } from './domain/apikey.service'
import { AppError } from './lib/errors'
import { createLogger } from './lib/log'
import { migrate } from './store/migrate'
import { DatabaseOpenError, openDb, shownDbPath } from './store/db'
import { exitOnSignals, startServer } from './server'
import { VERSION } from './version'

const USAGE = `wxgate ${VERSION} — WeChat Official Account gateway

Usage:
  wxgate [serve]                      start the server (migrations are applied first)
  wxgate demo                         start a sandbox demo: no WeChat account needed
  wxgate migrate                      apply pending migrations and exit
  wxgate apikey create --name NAME [--scopes a,b]   create an API key (printed once, last line)
  wxgate apikey list                  list API keys (never the secret)
  wxgate apikey revoke ID             revoke an API key
  wxgate channel add --id ID --appid A --secret S --token T [--aes-key K]   add or update a channel
  wxgate channel list                 list channels (never secrets)
  wxgate doctor [--channel ID] [--url https://your.domain/wechat]   check a channel for real (exit 1 on a FAIL)
  wxgate --help | --version

Scopes: ${ALL_SCOPES.join(', ')} (admin implies all).
Settings come from the environment and a .env file in the working folder; see the README.`

class UsageError extends Error {}

const out = (s: string) => process.stdout.write(s + '\n')
const err = (s: string) => process.stderr.write(s + '\n')

// CLI commands log only warnings and errors, to stderr, so that stdout stays parseable.
const cliDeps = (config: Config) => createDeps(config, { log: createLogger({ level: 'warn', write: (l) => process.stderr.write(l + '\n') }) })

const flags = <O extends NonNullable<Parameters<typeof parseArgs>[0]>['options']>(args: string[], options: O) => {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true })
  } catch (e) {
    throw new UsageError((e as Error).message)
  }
}

const run = async (argv: string[]): Promise<number> => {
  if (argv.includes('--version') || argv[0] === 'version') { out(VERSION); return 0 }
  if (argv.includes('--help') || argv.includes('-h') || argv[0] === 'help') { out(USAGE); return 0 }
  const [cmd = 'serve', sub, ...rest] = argv

  if (cmd === 'demo') {
    const { runDemo } = await import('./demo')
    return runDemo(argv.slice(1))
  }

  const settings = loadSettings()
  for (const w of settings.warnings) err(w)
  // Absolute from here on: what is printed and logged is the file actually used, whatever the working folder.
  const config: Config = { ...settings.config, WXGATE_DB: shownDbPath(settings.config.WXGATE_DB) }
  const saidDb = () => err(`database: ${config.WXGATE_DB}`)
  switch (cmd) {
    case 'serve': {
      if (sub !== undefined) throw new UsageError(`unexpected argument '${sub}'`)
      const log = createLogger({ level: config.WXGATE_LOG_LEVEL })
      let deps: ReturnType<typeof createDeps>
      try {
        deps = createDeps(config, { log })
      } catch (e) {
        // The journal shows the log, not always stderr: the reason goes in both.
        if (e instanceof DatabaseOpenError) log.error(e.message, { db: config.WXGATE_DB })
        throw e
      }
      saidDb()
      const server = await startServer(deps)
      exitOnSignals(server)
      return -1 // keep running
    }
    case 'migrate': {
      const db = openDb(config.WXGATE_DB)
      saidDb()
      const applied = migrate(db.sqlite)
      db.close()
      out(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date')
      return 0
    }
    case 'apikey': {
      const deps = cliDeps(config)
      saidDb()
      if (sub === 'create') {
        const f = flags(rest, { name: { type: 'string' }, scopes: { type: 'string' } })
        if (!f.values.name) throw new UsageError('apikey create needs --name NAME')
        const { key, info } = await deps.apiKeys.create(String(f.values.name), parseScopes(f.values.scopes as string | undefined))
        out(`created API key ${info.id} (${info.name}) with scopes ${info.scopes.join(',')}; it is shown only now:`)
        out(key)
        return 0
      }
      if (sub === 'list') {
        const keys = deps.apiKeys.list()
        if (keys.length === 0) out('no API keys')
        for (const k of keys) out([k.id, k.name, k.prefix + '…', k.scopes.join(','), k.createdAt, k.revokedAt ? `revoked ${k.revokedAt}` : 'active'].join('\t'))
        return 0
      }
      if (sub === 'revoke') {
        const id = rest[0]
        if (!id) throw new UsageError('apikey revoke needs an ID')
        await deps.apiKeys.revoke(id)
        out(`revoked ${id}`)
        return 0
      }
      throw new UsageError('apikey needs create, list or revoke')
    }
    case 'channel': {
      const deps = cliDeps(config)
      saidDb()
      if (sub === 'add') {
        const f = flags(rest, { id: { type: 'string' }, appid: { type: 'string' }, secret: { type: 'string' }, token: { type: 'string' }, 'aes-key': { type: 'string' } })
        const v = f.values
        for (const k of ['id', 'appid', 'secret'] as const) if (v[k] === undefined) throw new UsageError(`channel add needs --${k}`)
        if (v.token === undefined) throw new UsageError('channel add needs --token')
        const { created, channel } = await deps.channels.upsert({ id: v.id, appId: v.appid, appSecret: v.secret, token: v.token, aesKey: v['aes-key'] ?? null })
        out(`${created ? 'added' : 'updated'} channel ${channel.id} (${channel.appId}, ${channel.mode} mode)`)
        return 0
      }
      if (sub === 'list') {
        const list = deps.channels.list()
        if (list.length === 0) out('no channels')
        for (const c of list) out([c.id, c.appId, c.mode, new Date(c.createdAt).toISOString()].join('\t'))
        return 0
      }
      throw new UsageError('channel needs add or list')
    }
    case 'doctor': {
      const f = flags(argv.slice(1), { channel: { type: 'string' }, url: { type: 'string' } })
      if (f.positionals.length) throw new UsageError(`unexpected argument '${f.positionals[0]}'`)
      const { runDoctor } = await import('./doctor')
      saidDb()
      return runDoctor(config, { channel: f.values.channel as string | undefined, url: f.values.url as string | undefined })
    }
    default:
      throw new UsageError(`unknown command '${cmd}'`)
  }
}

try {
  const code = await run(process.argv.slice(2))
  if (code >= 0) process.exit(code)
} catch (e) {
  if (e instanceof ConfigInvalid) { err(e.message); process.exit(2) }
  if (e instanceof UsageError) { err(`wxgate: ${e.message}\nRun 'wxgate --help' for usage.`); process.exit(2) }
  if (e instanceof AppError) { err(`wxgate: ${e.message}`); process.exit(e.status === 422 ? 2 : 1) }
  err(`wxgate: ${(e as Error)?.message ?? String(e)}`)
  process.exit(1)
}
