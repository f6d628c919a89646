/**
 * @module The console's HTTP details: its cookies (the session's, HttpOnly, SameSite=Strict, Secure behind https;
 * the language's), redirects that never leave the console, HTML answers with the console's headers, form fields.
 */
import { consoleHeaders, type Lang } from './render'

export const SESSION_COOKIE = 'wxgate_console'
export const LANG_COOKIE = 'wxgate_lang'

export const cookiesOf = (request: Request): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const part of (request.headers.get('cookie') ?? '').split(';')) {
    const eq = part.indexOf('=')
    if (eq <= 0) continue
    const raw = part.slice(eq + 1).trim()
    // A malformed %-sequence (anyone's cookie header) is kept as it is rather than failing the request.
    try { out[part.slice(0, eq).trim()] = decodeURIComponent(raw) } catch { out[part.slice(0, eq).trim()] = raw }
  }
  return out
}

/** Behind nginx with https (X-Forwarded-Proto) or served over https: the cookie is Secure. */
export const isHttps = (request: Request) => request.url.startsWith('https:') || (request.headers.get('x-forwarded-proto') ?? '').split(',')[0]!.trim() === 'https'

export const sessionCookie = (request: Request, value: string, maxAgeSeconds?: number) =>
  `${SESSION_COOKIE}=${value}; Path=/console; HttpOnly; SameSite=Strict${isHttps(request) ? '; Secure' : ''}${maxAgeSeconds !== undefined ? `; Max-Age=${maxAgeSeconds}` : ''}`

export const langOf = (request: Request): Lang => (cookiesOf(request)[LANG_COOKIE] === 'en' ? 'en' : 'zh')

/** Only paths of the console are followed after sign-in or a language switch (no open redirect). */
export const safeBack = (to: unknown): string => (typeof to === 'string' && /^\/console(\/[\w\-./%]*)?(\?[\w\-=&%.]*)?$/.test(to) && !to.includes('//') ? to : '/console')

export const html = (body: string, status = 200, extra: Record<string, string> = {}) => new Response(body, { status, headers: { ...consoleHeaders(), ...extra } })
export const redirect = (to: string, extra: Record<string, string> = {}) => new Response(null, { status: 303, headers: { location: to, 'cache-control': 'no-store', ...extra } })

/** A form field as one string (a repeated field: its first value). */
export const field = (body: unknown, name: string): string | undefined => {
  const v = (body as Record<string, unknown> | null | undefined)?.[name]
  return typeof v === 'string' ? v : Array.isArray(v) && typeof v[0] === 'string' ? v[0] : undefined
}
export const fields = (body: unknown, name: string): string[] => {
  const v = (body as Record<string, unknown> | null | undefined)?.[name]
  return typeof v === 'string' ? [v] : Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []
}
