/**
 * @module The real client address of a request, for logs: the socket peer, unless that peer is a proxy
 * we trust (WXGATE_TRUST_PROXY), in which case X-Forwarded-For is walked from the right, skipping trusted
 * hops, and the first address that is not trusted is the client. An untrusted peer's X-Forwarded-For is
 * ignored (anyone can send one). Pure functions; no I/O.
 */
import { isIPv4, isIPv6 } from 'node:net'

export type TrustProxy = 'none' | 'loopback' | readonly string[]

export interface Ip {
  /** As shown in logs: dotted IPv4 (also for IPv4-mapped IPv6), otherwise the IPv6 text in lower case. */
  text: string
  /** One spelling per address, for comparisons: dotted IPv4, or eight 4-digit hex groups. */
  key: string
  v4: boolean
}

/** At most this many X-Forwarded-For entries are looked at (a proxy chain is never this long). */
const MAX_HOPS = 16

const hex4 = (n: number) => n.toString(16).padStart(4, '0')

/** Eight groups of 4 hex digits, or undefined. Expects text node:net accepts as IPv6 (no zone). */
const expandV6 = (s: string): string[] | undefined => {
  let text = s
  // A dotted IPv4 tail (::ffff:1.2.3.4) becomes two hex groups.
  const tail = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text)
  if (tail) {
    const [a, b, c, d] = tail.slice(1).map(Number) as [number, number, number, number]
    text = `${text.slice(0, tail.index)}${hex4((a << 8) | b)}:${hex4((c << 8) | d)}`
  }
  const halves = text.split('::')
  if (halves.length > 2) return undefined
  const part = (h: string | undefined) => (h ? h.split(':') : [])
  const head = part(halves[0])
  const rest = part(halves[1])
  const missing = 8 - head.length - rest.length
  if (halves.length === 1 ? missing !== 0 : missing < 0) return undefined
  return [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...rest].map((g) => g.toLowerCase().padStart(4, '0'))
}

/**
 * Parses one address as found in a socket peer or an X-Forwarded-For entry: IPv4, IPv6, `[IPv6]`,
 * `[IPv6]:port`, `IPv4:port`, an IPv6 zone (`%eth0`, dropped). Anything else (a host name, `unknown`,
 * an obfuscated RFC 7239 identifier, garbage) is undefined.
 */
export const parseIp = (raw: string | null | undefined): Ip | undefined => {
  if (!raw) return undefined
  let s = raw.trim()
  if (s.length === 0 || s.length > 64) return undefined
  if (s.startsWith('[')) {
    const end = s.indexOf(']')
    if (end < 0 || !/^(:\d{1,5})?$/.test(s.slice(end + 1))) return undefined
    s = s.slice(1, end)
  } else if (/^[\d.]+:\d{1,5}$/.test(s)) {
    s = s.slice(0, s.indexOf(':'))
  }
  const zone = s.indexOf('%')
  if (zone >= 0) s = s.slice(0, zone)
  if (isIPv4(s)) return { text: s, key: s, v4: true }
  if (!isIPv6(s)) return undefined
  const groups = expandV6(s)
  if (!groups) return undefined
  // IPv4-mapped (::ffff:a.b.c.d): the IPv4 address it carries.
  if (groups.slice(0, 5).every((g) => g === '0000') && groups[5] === 'ffff') {
    const hi = parseInt(groups[6]!, 16)
    const lo = parseInt(groups[7]!, 16)
    const v4 = `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`
    return { text: v4, key: v4, v4: true }
  }
  return { text: s.toLowerCase(), key: groups.join(':'), v4: false }
}

const LOOPBACK_V6 = '0000:0000:0000:0000:0000:0000:0000:0001'

/** Which peers may tell us the client's address: none, loopback (127.0.0.0/8, ::1, ::ffff:127.x), or a list. */
export const trustedBy = (trust: TrustProxy): ((ip: Ip) => boolean) => {
  if (trust === 'none') return () => false
  if (trust === 'loopback') return (ip) => (ip.v4 ? ip.key.startsWith('127.') : ip.key === LOOPBACK_V6)
  const keys = new Set(trust.map((a) => parseIp(a)?.key).filter((k): k is string => k !== undefined))
  return (ip) => keys.has(ip.key)
}

/**
 * The client's address: the peer when it is not trusted (its X-Forwarded-For is ignored); otherwise the
 * rightmost X-Forwarded-For entry that is not trusted, walking from the right. A garbage entry stops the
 * walk: the client is then the last address we could read (nobody trusted vouches for what is beyond).
 * When every entry is trusted, the leftmost. 'unknown' when the peer itself is not known.
 */
export const clientAddress = (peer: string | null | undefined, forwardedFor: string | null | undefined, trusted: (ip: Ip) => boolean): string => {
  const p = parseIp(peer)
  if (!p) return 'unknown'
  if (!forwardedFor || !trusted(p)) return p.text
  let client = p
  const hops = forwardedFor.split(',')
  for (let i = hops.length - 1; i >= 0 && hops.length - i <= MAX_HOPS; i--) {
    const hop = parseIp(hops[i])
    if (!hop) break
    client = hop
    if (!trusted(hop)) break
  }
  return client.text
}

/** What Bun.serve hands a handler: enough to read the socket peer. */
export interface PeerSource { requestIP(request: Request): { address: string } | null }

/** `(request, server) => client address` for the configured trust. */
export const clientOf = (trust: TrustProxy) => {
  const trusted = trustedBy(trust)
  return (request: Request, server: PeerSource | null | undefined): string => {
    let peer: string | undefined
    try {
      peer = server?.requestIP(request)?.address
    } catch {
      // requestIP throws for a request that did not come from this server's socket (tests, app.handle).
    }
    return clientAddress(peer, request.headers.get('x-forwarded-for'), trusted)
  }
}
export type ClientOf = ReturnType<typeof clientOf>
