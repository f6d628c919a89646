#!/usr/bin/env bun
/**
 * @module The CLI: parse args, load settings, run a command. The only file with side effects at import.
 * Exit codes: 0 ok, 1 failure, 2 bad setting or usage. A database that cannot be opened is 1: the setting
 * is well-formed and the filesystem refused it (the message says what to change there).
 * Every command that opens the database prints `database: /abs/path` on stderr once it is open (doctor:
 * before its checks, which report a failure to open themselves), so a key made against the wrong file is
 * noticed at once.
 */
import { existsSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { ConfigInvalid, loadSettings, type Config } from './config'
import { openDeps, type Deps } from './deps'
import { ALL_SCOPES, parseScopes } from './domain/apikey.service'
import { AppError } from './lib/errors'
import { nearestName } from './lib/did-you-mean'
import { createLogger } from './lib/log'
import { isPostgresUrl, openStore, shownDb } from './store/open'
import type { PostgresDb } from './store/postgres/db'
import { shownDbPath, type SqliteDb } from './store/sqlite/db'
import { exitOnSignals, startServer } from './server'
import { VERSION } from './version'

const USAGE = `wxgate ${VERSION} — WeChat Official Account gateway

Usage:
  wxgate [serve]                      start the server (migrations are applied first)
  wxgate demo                         start a sandbox demo: no WeChat account needed
  wxgate migrate                      apply pending migrations and exit
  wxgate migrate-to postgres://…|- [--skip-undelivered]
                                      copy this SQLite database (WXGATE_DB) into an empty PostgreSQL database
                                      in one transaction (stop wxgate first); then set WXGATE_DB to that URL
  wxgate apikey create --name NAME [--scopes a,b]   create an API key (printed once, last line)
  wxgate apikey list                  list API keys (never the secret)
  wxgate apikey revoke ID             revoke an API key (given the key itself by mistake: that key; only the id is printed)
  wxgate channel add --id ID --appid A --secret S --token T [--aes-key K] [--name 公众号名称]   add or update a channel
                                      (S, T or K as '-': read from stdin, one line, off the shell history)
  wxgate channel list                 list channels (never secrets)
  wxgate webhook add --url URL [--events a,b] [--channel ID] [--description D]
                                      add a webhook endpoint (its whsec_ secret is printed once, last line)
  wxgate webhook list                 list webhook endpoints (never the secret)
  wxgate webhook remove ID            remove a webhook endpoint with its deliveries
  wxgate doctor [--channel ID] [--url https://your.domain/wechat]   check a channel for real (exit 1 on a FAIL)
  wxgate --help | --version

Scopes: ${ALL_SCOPES.join(', ')} (admin implies all).
Settings come from the environment and a .env file in the working folder; see the README.`

class UsageError extends Error {}

const out = (s: string) => process.stdout.write(s + '\n')
const err = (s: string) => process.stderr.write(s + '\n')

// CLI commands log only warnings and errors, to stderr, so that stdout stays parseable.
const cliDeps = (config: Config): Promise<Deps> => openDeps(config, { log: createLogger({ level: 'warn', write: (l) => process.stderr.write(l + '\n') }) })

const flags = <O extends NonNullable<NonNullable<Parameters<typeof parseArgs>[0]>['options']>>(args: string[], options: O) => {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true })
  } catch (e) {
    const message = (e as Error).message
    // parseArgs names the unknown flag and explains `--`; a misspelling deserves the right name instead.
    const unknown = /^Unknown option '(-[^'=]+)/.exec(message)?.[1]
    if (unknown) {
      const known = Object.keys(options).map((k) => `--${k}`)
      const near = nearestName(unknown, known)
      throw new UsageError(`unknown option ${unknown}; ${near ? `did you mean ${near}?` : `the options here are ${known.join(', ')}`}`)
    }
    throw new UsageError(message)
  }
}

/**
 * `--secret -` (or `--token -`, `--aes-key -`): the value is the first line of stdin, without its line
 * ending, so that it stays out of shell history and the process list. One value per run can come from
 * stdin; more than one line is refused (a whole file piped in by mistake). On a terminal it is read up to
 * the first Enter (and is echoed: pipe it in to keep it off the screen).
 */
const readStdinLine = async (flag: string, example = `channel add … ${flag} -`): Promise<string> => {
  const tty = process.stdin.isTTY === true
  if (tty) process.stderr.write(`${flag} -: type or paste the value, then Enter: `)
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) {
    chunks.push(Buffer.from(chunk as Uint8Array))
    if (tty && chunk.includes(10)) break
  }
  const lines = Buffer.concat(chunks).toString('utf8').split(/\r?\n/)
  const value = lines[0]!.trim()
  const how = `pipe it in, e.g. \`printf '%s\\n' "$VALUE" | wxgate ${example}\``
  if (value === '') throw new UsageError(`${flag} - reads the value from stdin, which gave an empty line: ${how}`)
  if (!tty && lines.slice(1).some((l) => l.trim() !== '')) throw new UsageError(`${flag} - reads one line from stdin, which gave more than one: ${how}`)
  return value
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
  // A PostgreSQL URL is kept as it is (it carries the password) and shown without the password.
  const given = settings.config.WXGATE_DB
  const config: Config = { ...settings.config, WXGATE_DB: isPostgresUrl(given) ? given : shownDbPath(given) }
  const saidDb = () => err(`database: ${shownDb(config.WXGATE_DB)}`)
  switch (cmd) {
    case 'serve': {
      if (sub !== undefined) throw new UsageError(`unexpected argument '${sub}'`)
      const log = createLogger({ level: config.WXGATE_LOG_LEVEL })
      let deps: Deps
      try {
        deps = await openDeps(config, { log })
      } catch (e) {
        // The journal shows the log, not always stderr: the reason goes in both.
        if (e instanceof AppError && e.code === 'database_unavailable') log.error(e.message, { db: shownDb(config.WXGATE_DB) })
        throw e
      }
      saidDb()
      // The signals are handled from the start: the port answers a moment before the workers run.
      const started = startServer(deps)
      exitOnSignals(started)
      await started
      return -1 // keep running
    }
    case 'migrate': {
      const { db, applied } = await openStore(config.WXGATE_DB, { log: createLogger({ level: 'warn', write: (l) => process.stderr.write(l + '\n') }) })
      saidDb()
      await db.close()
      out(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date')
      return 0
    }
    case 'migrate-to': {
      const f = flags(argv.slice(1), { 'skip-undelivered': { type: 'boolean' } })
      // `-`: the URL (it carries the password) from stdin, off the shell history and the process list.
      const target = f.positionals[0] === '-' ? await readStdinLine('migrate-to', 'migrate-to -') : f.positionals[0]
      if (!target || f.positionals.length > 1) throw new UsageError('migrate-to needs the target URL: wxgate migrate-to postgres://user:password@host:5432/db (or - to read it from stdin)')
      if (!isPostgresUrl(target)) throw new UsageError(`migrate-to copies into PostgreSQL: give a postgres:// or postgresql:// URL, not '${shownDb(target)}'`)
      if (isPostgresUrl(config.WXGATE_DB)) throw new UsageError('WXGATE_DB is PostgreSQL already: migrate-to copies from the SQLite file WXGATE_DB names')
      // Opening a path that does not exist would create an empty database and copy nothing, "successfully".
      if (config.WXGATE_DB === ':memory:' || !existsSync(config.WXGATE_DB)) throw new UsageError(`there is no SQLite database at ${config.WXGATE_DB} (WXGATE_DB): set WXGATE_DB to the file wxgate uses (e.g. /var/lib/wxgate/wxgate.db) and run migrate-to again`)
      const log = createLogger({ level: 'warn', write: (l) => process.stderr.write(l + '\n') })
      const { copySqliteToPostgres } = await import('./store/migrate-to')
      const from = await openStore(config.WXGATE_DB, { log })
      saidDb()
      const to = await openStore(target, { log, max: 2 })
      try {
        err(`copying into ${shownDb(target)} …`)
        const { tables } = await copySqliteToPostgres(from.db as SqliteDb, to.db as PostgresDb, { now: Date.now(), skipUndelivered: f.values['skip-undelivered'] === true })
        for (const t of tables) out(`${t.table}\t${t.rows}`)
        out(`copied ${tables.reduce((n, t) => n + t.rows, 0)} rows in one transaction; now set WXGATE_DB=${shownDb(target)} (with its password) and start wxgate`)
        return 0
      } finally {
        await to.db.close()
        await from.db.close()
      }
    }
    case 'apikey': {
      const deps = await cliDeps(config)
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
        const keys = await deps.apiKeys.list()
        if (keys.length === 0) out('no API keys')
        for (const k of keys) out([k.id, k.name, k.prefix + '…', k.scopes.join(','), k.createdAt, k.revokedAt ? `revoked ${k.revokedAt}` : 'active'].join('\t'))
        return 0
      }
      if (sub === 'revoke') {
        const arg = rest[0]
        if (!arg) throw new UsageError('apikey revoke needs an ID')
        // The argument may be a pasted key: only the id is ever printed.
        const { id, revoked } = await deps.apiKeys.revoke(arg)
        out(revoked ? `revoked ${id}` : `${id} was revoked already`)
        return 0
      }
      throw new UsageError('apikey needs create, list or revoke')
    }
    case 'channel': {
      const deps = await cliDeps(config)
      saidDb()
      if (sub === 'add') {
        const f = flags(rest, { id: { type: 'string' }, appid: { type: 'string' }, secret: { type: 'string' }, token: { type: 'string' }, 'aes-key': { type: 'string' }, name: { type: 'string' } })
        const v = f.values
        for (const k of ['id', 'appid', 'secret'] as const) if (v[k] === undefined) throw new UsageError(`channel add needs --${k}`)
        if (v.token === undefined) throw new UsageError('channel add needs --token')
        const fromStdin = (['secret', 'token', 'aes-key'] as const).filter((k) => v[k] === '-')
        if (fromStdin.length > 1) throw new UsageError(`only one value can come from stdin; ${fromStdin.map((k) => `--${k} -`).join(' and ')} were given`)
        for (const k of fromStdin) v[k] = await readStdinLine(`--${k}`)
        // Without --name an update keeps the stored name; `--name ''` clears it.
        const name = v.name === undefined ? {} : { name: v.name.trim() === '' ? null : v.name }
        const { created, channel } = await deps.channels.upsert({ id: v.id, appId: v.appid, appSecret: v.secret, token: v.token, aesKey: v['aes-key'] ?? null, ...name })
        out(`${created ? 'added' : 'updated'} channel ${channel.id} (${channel.appId}, ${channel.mode} mode${channel.name ? `, 「${channel.name}」` : ''})`)
        return 0
      }
      if (sub === 'list') {
        const list = deps.channels.list()
        if (list.length === 0) out('no channels')
        for (const c of list) out([c.id, c.appId, c.mode, new Date(c.createdAt).toISOString(), c.name ?? '-'].join('\t'))
        return 0
      }
      throw new UsageError('channel needs add or list')
    }
    case 'webhook': {
      const deps = await cliDeps(config)
      saidDb()
      if (sub === 'add') {
        const f = flags(rest, { url: { type: 'string' }, events: { type: 'string' }, channel: { type: 'string' }, description: { type: 'string' } })
        if (f.positionals.length) throw new UsageError(`unexpected argument '${f.positionals[0]}'`)
        const v = f.values
        if (v.url === undefined) throw new UsageError('webhook add needs --url URL')
        const events = v.events === undefined ? undefined : String(v.events).split(',').map((e) => e.trim()).filter(Boolean)
        const w = await deps.webhooks.create({ url: String(v.url), events, channel: v.channel as string | undefined, description: v.description as string | undefined })
        out(`added webhook ${w.id} → ${w.url} (events ${w.events.join(',')}${w.channel ? `, channel ${w.channel}` : ''}); its secret is shown only now:`)
        out(w.secret)
        return 0
      }
      if (sub === 'list') {
        const list = await deps.webhooks.list()
        if (list.length === 0) out('no webhooks')
        for (const w of list) out([w.id, w.url, w.events.join(','), w.channel ?? '*', w.disabled ? `disabled: ${w.disabledReason ?? ''}` : 'active', w.description ?? '-'].join('\t'))
        return 0
      }
      if (sub === 'remove') {
        const id = rest[0]
        if (!id) throw new UsageError('webhook remove needs an ID (webhook list shows them)')
        await deps.webhooks.remove(id)
        out(`removed webhook ${id}`)
        return 0
      }
      throw new UsageError('webhook needs add, list or remove')
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
