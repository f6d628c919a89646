/**
 * @module `then(value, f)`: f applied to a value that may or may not be a Promise, synchronously when it is not.
 * The store answers synchronously on SQLite and with Promises on PostgreSQL (store/contract.ts Awaitable); the few
 * in-memory caches that must stay synchronous (the channel list on every callback) use this so that on SQLite a
 * reload still happens at once, as before, and on PostgreSQL it completes in the background.
 */
import type { Awaitable } from '../store/contract'

export const then = <T, U>(v: Awaitable<T>, f: (t: T) => U): Awaitable<U> =>
  v instanceof Promise ? v.then(f) : f(v as T)
