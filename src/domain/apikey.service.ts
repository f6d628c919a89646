/**
 * @module API keys: created once and shown once, stored as SHA-256 hashes, checked on every /api call
 * against the database (so a revoke from the CLI takes effect at once). WXGATE_ADMIN_TOKEN is a
 * bootstrap key with every scope.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { z } from 'zod'
import type { Clock } from '../lib/clock'
import { ForbiddenError, NotFoundError, UnauthorizedError, ValidationError } from '../lib/errors'
import type { Random } from '../lib/random'
import type { ApiKeyRow, Db } from '../store/contract'

export const Scope = z.enum(['send', 'bindcode', 'read', 'token', 'admin'])
export type Scope = z.infer<typeof Scope>
export const ALL_SCOPES: Scope[] = Scope.options

export interface Principal {
  keyId: string
  name: string
  scopes: Scope[]
}

export interface ApiKeyInfo {
  id: string
  name: string
  prefix: string
  scopes: Scope[]
  createdAt: string
  revokedAt?: string
  lastUsedAt?: string
}

/** Hex sha256: how keys (and console session tokens) are stored. */
export const sha256 = (s: string) => createHash('sha256').update(s).digest('hex')
const base64url = (b: Uint8Array) => Buffer.from(b).toString('base64url')

export const parseScopes = (input: string | string[] | undefined): Scope[] => {
  const raw = input === undefined ? ['admin'] : Array.isArray(input) ? input : input.split(',')
  const list = raw.map((s) => s.trim()).filter(Boolean)
  if (list.length === 0) throw new ValidationError('scopes: give at least one of send, bindcode, read, token, admin')
  for (const s of list) {
    if (!Scope.safeParse(s).success) throw new ValidationError(`scopes: unknown scope '${s}' (use send, bindcode, read, token, admin)`)
  }
  return [...new Set(list)] as Scope[]
}

export const hasScope = (p: Principal, needed: Scope): boolean => p.scopes.includes('admin') || p.scopes.includes(needed)

/** WXGATE_ADMIN_TOKEN's key id in the API (it scopes idempotency keys: kept as it always was). */
const ADMIN_TOKEN_ID = 'admin-token'
/** Its id in a console session: with the first 12 hex of its hash (which token, never the token), so a changed setting ends the sessions. */
const ADMIN_KEY_PREFIX = 'admin-token:'
const adminKeyId = (hash: Buffer) => ADMIN_KEY_PREFIX + hash.toString('hex').slice(0, 12)

export const createApiKeyService = (deps: { db: Db; clock: Clock; random: Random; adminToken?: string }) => {
  const { db, clock, random } = deps
  const repo = db.read.apiKeys
  /**
   * Keys found active, by hash: a request with a known key costs no query. Emptied when another connection
   * (the CLI, another instance) changes keys (Db.dataVersion: within 2 s on PostgreSQL) and by revoke here.
   */
  const known = new Map<string, ApiKeyRow>()
  let knownVersion = db.dataVersion()
  const KNOWN_MAX = 1000
  const adminHash = deps.adminToken ? Buffer.from(sha256(deps.adminToken), 'hex') : undefined
  const lastTouched = new Map<string, number>()

  const toInfo = (r: ApiKeyRow): ApiKeyInfo => ({
    id: r.id,
    name: r.name,
    prefix: r.prefix,
    scopes: r.scopes.split(',') as Scope[],
    createdAt: new Date(r.createdAt).toISOString(),
    ...(r.revokedAt ? { revokedAt: new Date(r.revokedAt).toISOString() } : {}),
    ...(r.lastUsedAt ? { lastUsedAt: new Date(r.lastUsedAt).toISOString() } : {}),
  })

  return {
    /** Creates a key; the returned `key` is never retrievable again. */
    create: async (name: string, scopes: Scope[]): Promise<{ key: string; info: ApiKeyInfo }> => {
      if (!name.trim()) throw new ValidationError('name: must not be empty')
      const key = `wxg_${base64url(random.bytes(32))}`
      const id = `key_${Buffer.from(random.bytes(6)).toString('hex')}`
      const now = clock.now()
      const row = { id, name: name.trim(), keyHash: sha256(key), prefix: key.slice(0, 10), scopes: scopes.join(','), createdAt: now, revokedAt: null, lastUsedAt: null }
      await db.tx((s) => s.apiKeys.insert(row))
      return { key, info: toInfo(row) }
    },
    list: async (): Promise<ApiKeyInfo[]> => (await repo.list()).map(toInfo),
    /**
     * Revokes a key by its id, or by the key itself when that is what was given (pasted from where it was
     * shown, it is found by its hash). The argument is never put in a message: it may be a live key.
     * Returns the id, and whether it was active until now.
     */
    revoke: async (idOrKey: string): Promise<{ id: string; revoked: boolean }> => {
      let id = (await repo.exists(idOrKey)) ? idOrKey : undefined
      if (id === undefined) {
        const hash = sha256(idOrKey)
        if (adminHash && timingSafeEqual(adminHash, Buffer.from(hash, 'hex'))) {
          throw new ValidationError('that is WXGATE_ADMIN_TOKEN, which is a setting, not a stored key: change or remove the setting and restart wxgate')
        }
        id = (await repo.findActiveByHash(hash))?.id
      }
      if (id === undefined) {
        throw new NotFoundError(idOrKey.startsWith('wxg_')
          ? 'no active API key is the key given (revoked already, or made against another database?); run `wxgate apikey list` for the ids'
          : 'no API key with the id given; run `wxgate apikey list` for the ids')
      }
      const found = id
      // Its console sessions end with it (SPEC §9: at once; each is also checked against its key on every request).
      const revoked = await db.tx(async (s) => {
        const r = await s.apiKeys.revoke(found, clock.now())
        await s.consoleSessions.deleteByKey(found)
        return r
      })
      known.clear()
      return { id: found, revoked }
    },
    /** Resolves a bearer token to a principal, or throws 401. */
    authenticate: async (bearer: string | undefined): Promise<Principal> => {
      if (!bearer) throw new UnauthorizedError('missing Authorization: Bearer <api key>')
      const hash = sha256(bearer)
      if (adminHash && timingSafeEqual(adminHash, Buffer.from(hash, 'hex'))) {
        return { keyId: ADMIN_TOKEN_ID, name: 'WXGATE_ADMIN_TOKEN', scopes: ['admin'] }
      }
      // Lookup by hash: the index compares hashes, so timing reveals nothing about the key itself.
      const v = db.dataVersion()
      if (v !== knownVersion) { known.clear(); knownVersion = v }
      let row = known.get(hash)
      if (!row) {
        row = await repo.findActiveByHash(hash)
        if (!row) throw new UnauthorizedError('invalid or revoked API key')
        if (known.size >= KNOWN_MAX) known.clear()
        if (db.dataVersion() === knownVersion) known.set(hash, row)
      }
      const now = clock.now()
      // Record use at most once a minute per key, to keep writes off the hot path.
      if ((lastTouched.get(row.id) ?? 0) < now - 60_000) {
        lastTouched.set(row.id, now)
        const id = row.id
        void db.tx((s) => s.apiKeys.touch(id, now)).catch(() => undefined)
      }
      return { keyId: row.id, name: row.name, scopes: row.scopes.split(',') as Scope[] }
    },
    /**
     * The principal of a key id, while that key is active (a console session is bound to its key: revoked, the
     * session ends at the next request). `admin-token:<12 hex>` names WXGATE_ADMIN_TOKEN by its hash's start, so a
     * changed setting ends the sessions opened with the old one. Read through the same dataVersion-checked cache.
     */
    principalOf: async (keyId: string): Promise<Principal | undefined> => {
      if (keyId.startsWith(ADMIN_KEY_PREFIX)) {
        return adminHash && keyId === adminKeyId(adminHash) ? { keyId: ADMIN_TOKEN_ID, name: 'WXGATE_ADMIN_TOKEN', scopes: ['admin'] } : undefined
      }
      const v = db.dataVersion()
      if (v !== knownVersion) { known.clear(); knownVersion = v }
      let row = [...known.values()].find((r) => r.id === keyId)
      if (!row) {
        row = (await repo.list()).find((r) => r.id === keyId && r.revokedAt === null)
        if (!row) return undefined
        if (known.size >= KNOWN_MAX) known.clear()
        if (db.dataVersion() === knownVersion) known.set(row.keyHash, row)
      }
      return { keyId: row.id, name: row.name, scopes: row.scopes.split(',') as Scope[] }
    },
    /** The key id a console session keeps for this principal (WXGATE_ADMIN_TOKEN: with its hash's start, see principalOf). */
    sessionKeyIdOf: (p: Principal): string => (p.keyId === ADMIN_TOKEN_ID && adminHash ? adminKeyId(adminHash) : p.keyId),
    authorize: (p: Principal, needed: Scope): void => {
      if (!hasScope(p, needed)) throw new ForbiddenError(`this API key lacks the '${needed}' scope`)
    },
  }
}
export type ApiKeyService = ReturnType<typeof createApiKeyService>
