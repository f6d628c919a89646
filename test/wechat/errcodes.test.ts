/** @module Tests for src/wechat/errcodes.ts. */
import { describe, expect, test } from 'bun:test'
import { errcodeInfo, ipFromErrmsg } from '../../src/wechat/errcodes.ts'

describe('errcodeInfo', () => {
  test('classes', () => {
    expect([-1, 45011].map((c) => errcodeInfo(c).class)).toEqual(['transient', 'transient'])
    expect([40001, 40014, 42001].map((c) => errcodeInfo(c).class)).toEqual(['token', 'token', 'token'])
    expect(errcodeInfo(45009).class).toBe('quota')
    expect([40003, 40037, 43004, 47003, 40164, 48001, 45015, 45047, 123456].map((c) => errcodeInfo(c).class)).toEqual(Array(9).fill('permanent'))
  })

  test('meanings and hints', () => {
    expect(errcodeInfo(40164)).toEqual({ meaning: 'caller IP is not in the IP whitelist', class: 'permanent', hint: 'add the IP to the IP whitelist' })
    expect(errcodeInfo(40125).hint).toBe('check AppID/AppSecret')
    expect(errcodeInfo(40013).hint).toBe('check AppID/AppSecret')
    expect(errcodeInfo(48001).hint).toBe('the account lacks this permission')
    expect(errcodeInfo(45009).meaning).toBe('daily API quota reached')
    expect(errcodeInfo(-1)).toEqual({ meaning: 'system busy', class: 'transient' })
    expect(errcodeInfo(99999)).toEqual({ meaning: 'unknown errcode 99999', class: 'permanent' })
  })
})

describe('ipFromErrmsg', () => {
  test('reads the IPv4 address from a 40164 errmsg', () => {
    expect(ipFromErrmsg('invalid ip 1.2.3.4 ipv6 ::ffff:1.2.3.4, not in whitelist rid: 6630a1b2-0c3d4e5f-1a2b3c4d')).toBe('1.2.3.4')
    expect(ipFromErrmsg('invalid ip 203.0.113.77, not in whitelist hint: [abc]')).toBe('203.0.113.77')
  })

  test('reads an IPv6-only address', () => {
    expect(ipFromErrmsg('invalid ip 2001:db8::1 ipv6 2001:db8::1, not in whitelist rid: x')).toBe('2001:db8::1')
  })

  test('undefined when there is no IP', () => {
    expect(ipFromErrmsg('invalid credential, access_token is invalid or not latest rid: 1')).toBeUndefined()
    expect(ipFromErrmsg('invalid ip , not in whitelist')).toBeUndefined()
    expect(ipFromErrmsg('invalid ip 999.1.1.1, not in whitelist')).toBeUndefined()
    expect(ipFromErrmsg('')).toBeUndefined()
  })
})
