/** The client address for logs: socket peer, or X-Forwarded-For behind a trusted proxy (WXGATE_TRUST_PROXY). */
import { describe, expect, test } from 'bun:test'
import { clientAddress, clientOf, parseIp, trustedBy } from '../../src/http/client-ip'

const loopback = trustedBy('loopback')
const none = trustedBy('none')
const listed = trustedBy(['10.0.0.5', '2001:db8::1'])

describe('parseIp', () => {
  test('IPv4, IPv6, mapped, brackets, ports, zones', () => {
    expect(parseIp('203.0.113.7')).toEqual({ text: '203.0.113.7', key: '203.0.113.7', v4: true })
    expect(parseIp(' 203.0.113.7:4711 ')?.text).toBe('203.0.113.7')
    expect(parseIp('2001:DB8::1')).toEqual({ text: '2001:db8::1', key: '2001:0db8:0000:0000:0000:0000:0000:0001', v4: false })
    expect(parseIp('[2001:db8::1]:443')?.key).toBe(parseIp('2001:db8:0:0:0:0:0:1')?.key)
    expect(parseIp('fe80::1%eth0')?.text).toBe('fe80::1')
    expect(parseIp('::ffff:127.0.0.1')).toEqual({ text: '127.0.0.1', key: '127.0.0.1', v4: true })
    expect(parseIp('::ffff:7f00:1')?.text).toBe('127.0.0.1')
    expect(parseIp('0:0:0:0:0:ffff:c000:0201')?.text).toBe('192.0.2.1')
    expect(parseIp('::1')?.key).toBe('0000:0000:0000:0000:0000:0000:0000:0001')
  })

  test('garbage is undefined', () => {
    for (const g of ['', ' ', 'unknown', 'localhost', '1.2.3', '256.1.1.1', '1.2.3.4.5', ':::', '1::2::3', '[::1', '[::1]x', '_hidden', 'a'.repeat(100), '1.2.3.4:99999999', '<script>']) {
      expect(parseIp(g)).toBeUndefined()
    }
    expect(parseIp(undefined)).toBeUndefined()
    expect(parseIp(null)).toBeUndefined()
  })
})

describe('trustedBy', () => {
  test('loopback: 127.0.0.0/8, ::1 and ::ffff:127.x', () => {
    for (const a of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1', '0:0:0:0:0:0:0:1']) expect(loopback(parseIp(a)!)).toBe(true)
    for (const a of ['128.0.0.1', '10.0.0.1', '::2', '::ffff:10.0.0.1', 'fe80::1']) expect(loopback(parseIp(a)!)).toBe(false)
  })
  test('none trusts nobody; a list trusts its addresses in any spelling', () => {
    expect(none(parseIp('127.0.0.1')!)).toBe(false)
    expect(listed(parseIp('10.0.0.5')!)).toBe(true)
    expect(listed(parseIp('::ffff:10.0.0.5')!)).toBe(true)
    expect(listed(parseIp('2001:db8:0:0::1')!)).toBe(true)
    expect(listed(parseIp('127.0.0.1')!)).toBe(false)
  })
})

describe('clientAddress', () => {
  test('no X-Forwarded-For: the peer (IPv4, IPv6, mapped)', () => {
    expect(clientAddress('203.0.113.7', null, loopback)).toBe('203.0.113.7')
    expect(clientAddress('2001:db8::7', undefined, loopback)).toBe('2001:db8::7')
    expect(clientAddress('::ffff:203.0.113.7', '', loopback)).toBe('203.0.113.7')
    expect(clientAddress('127.0.0.1', null, loopback)).toBe('127.0.0.1')
  })

  test('a trusted peer: the last entry of X-Forwarded-For', () => {
    expect(clientAddress('127.0.0.1', '203.0.113.7', loopback)).toBe('203.0.113.7')
    expect(clientAddress('::1', '2001:db8::7', loopback)).toBe('2001:db8::7')
    expect(clientAddress('::ffff:127.0.0.1', '::ffff:198.51.100.2', loopback)).toBe('198.51.100.2')
  })

  test('a spoofed X-Forwarded-For from an untrusted peer is ignored', () => {
    expect(clientAddress('198.51.100.9', '1.1.1.1', loopback)).toBe('198.51.100.9')
    expect(clientAddress('198.51.100.9', '127.0.0.1', loopback)).toBe('198.51.100.9')
    expect(clientAddress('127.0.0.1', '1.1.1.1', none)).toBe('127.0.0.1')
  })

  test('several hops: walk from the right, skipping trusted ones; what the client wrote on the left is not believed', () => {
    // The client sent "X-Forwarded-For: 6.6.6.6"; nginx (trusted, on loopback) appended the real peer.
    expect(clientAddress('127.0.0.1', '6.6.6.6, 203.0.113.7', loopback)).toBe('203.0.113.7')
    // Two trusted proxies (10.0.0.5 in front of loopback nginx).
    const both = trustedBy(['127.0.0.1', '10.0.0.5'])
    expect(clientAddress('127.0.0.1', '6.6.6.6,203.0.113.7, 10.0.0.5', both)).toBe('203.0.113.7')
    expect(clientAddress('10.0.0.5', '203.0.113.7', listed)).toBe('203.0.113.7')
    // An untrusted middle hop stops the walk there.
    expect(clientAddress('127.0.0.1', '203.0.113.7, 198.51.100.1', loopback)).toBe('198.51.100.1')
    // Every hop trusted: the leftmost.
    expect(clientAddress('127.0.0.1', '127.0.0.2, 127.0.0.3', loopback)).toBe('127.0.0.2')
  })

  test('garbage entries stop the walk at the last address that could be read', () => {
    expect(clientAddress('127.0.0.1', 'garbage', loopback)).toBe('127.0.0.1')
    expect(clientAddress('127.0.0.1', '203.0.113.7, unknown', loopback)).toBe('127.0.0.1')
    expect(clientAddress('127.0.0.1', '203.0.113.7,', loopback)).toBe('127.0.0.1')
    expect(clientAddress('127.0.0.1', 'garbage, 203.0.113.7', loopback)).toBe('203.0.113.7')
    expect(clientAddress('127.0.0.1', '[2001:db8::7]:443', loopback)).toBe('2001:db8::7')
    expect(clientAddress('127.0.0.1', ',,,,', loopback)).toBe('127.0.0.1')
    expect(clientAddress('127.0.0.1', `${'127.0.0.9,'.repeat(40)}203.0.113.7`, loopback)).toBe('203.0.113.7')
    // At most 16 entries are looked at.
    expect(clientAddress('127.0.0.1', `203.0.113.7${',127.0.0.9'.repeat(40)}`, loopback)).toBe('127.0.0.9')
  })

  test('an unknown peer is "unknown", whatever X-Forwarded-For says', () => {
    expect(clientAddress(undefined, '203.0.113.7', loopback)).toBe('unknown')
    expect(clientAddress('nonsense', '203.0.113.7', loopback)).toBe('unknown')
  })
})

describe('clientOf', () => {
  test('reads the peer from the server and the header from the request', () => {
    const of = clientOf('loopback')
    const req = new Request('http://x/', { headers: { 'x-forwarded-for': '203.0.113.7' } })
    expect(of(req, { requestIP: () => ({ address: '127.0.0.1' }) })).toBe('203.0.113.7')
    expect(of(req, { requestIP: () => ({ address: '198.51.100.9' }) })).toBe('198.51.100.9')
    expect(of(req, { requestIP: () => { throw new Error('not ours') } })).toBe('unknown')
    expect(of(req, null)).toBe('unknown')
  })
})
