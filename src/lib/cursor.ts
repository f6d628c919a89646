/** @module Opaque page cursors: the seq of the last row of a page, base64url so nobody builds on the format. */
import { ValidationError } from './errors'

/** A cursor codec; the tag keeps a cursor of one list from being accepted by another. */
export const pageCursor = (tag: string) => ({
  encode: (seq: number): string => Buffer.from(`${tag}${seq}`).toString('base64url'),
  decode: (cursor: string): number => {
    const text = Buffer.from(cursor, 'base64url').toString()
    const digits = text.startsWith(tag) ? text.slice(tag.length) : ''
    if (!/^\d{1,15}$/.test(digits)) throw new ValidationError('cursor: not a cursor this API gave out')
    return Number(digits)
  },
})
