/** @module Randomness is injected: protocol code takes its random bytes as parameters. */
import { randomBytes } from 'node:crypto'

export interface Random {
  bytes(n: number): Uint8Array
}

export const systemRandom: Random = { bytes: (n) => new Uint8Array(randomBytes(n)) }

/** Lower-case alphanumeric string of `n` characters, as WeChat uses for the 16 random bytes. */
export const randomAlnum = (random: Random, n: number): string => {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789'
  const bytes = random.bytes(n)
  let out = ''
  for (const b of bytes) out += alphabet[b % alphabet.length]
  return out
}
