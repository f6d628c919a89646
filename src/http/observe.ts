/**
 * @module Per-request accounting around both routers (see server.ts): wxgate_http_requests_total by route
 * pattern, method and status, and one log line per request with the real client address — at info for
 * /api, /bind, /docs, /metrics and unknown paths, at debug for the callbacks (a line per callback at
 * full load costs too much), the health probes and an open bind page's status polls (every 2 s each) —
 * a poll that fails is still an info line.
 */
import type { Logger } from '../lib/log'
import type { Metrics } from '../metrics'
import type { ClientOf, PeerSource } from './client-ip'

export interface RouteDef { method: string; path: string }

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/**
 * Path → the route pattern that serves it (`/api/messages/:messageId`), or 'other': the label never
 * carries a raw path (ids, bind codes, scanners' junk). Static paths by map, parametric ones by regex.
 * A trailing slash is ignored, as Elysia does.
 */
export const routeMatcher = (routes: readonly RouteDef[]) => {
  const statics = new Map<string, string>()
  const dynamic: { re: RegExp; path: string }[] = []
  for (const { path } of routes) {
    if (!/[:*]/.test(path)) statics.set(path, path)
    else if (!dynamic.some((d) => d.path === path)) {
      const re = path.split('/').map((seg) => (seg.startsWith(':') ? '[^/]+' : seg === '*' ? '.*' : escapeRe(seg))).join('/')
      dynamic.push({ re: new RegExp(`^${re}$`), path })
    }
  }
  return (pathname: string): string => {
    const p = pathname.length > 1 && pathname.endsWith('/') ? pathname.slice(0, -1) : pathname
    const s = statics.get(p)
    if (s !== undefined) return s
    for (const d of dynamic) if (d.re.test(p)) return d.path
    return 'other'
  }
}

/** The path of a request URL, without parsing the whole URL. */
export const pathOf = (url: string): string => {
  const start = url.indexOf('/', url.indexOf('//') + 2)
  if (start < 0) return '/'
  const q = url.indexOf('?', start)
  return q < 0 ? url.slice(start) : url.slice(start, q)
}

const msSince = (started: number) => Math.round((performance.now() - started) * 10) / 10

/**
 * `routes`: the app's routes, or a getter of them once the app is built (server.ts builds it on first use; a
 * request it serves is matched after it, and until then, e.g. when building it failed, the route is 'other').
 */
export const createRequestObserver = (deps: { metrics: Pick<Metrics, 'httpCounter'>; log: Logger; clientOf: ClientOf; routes: readonly RouteDef[] | (() => readonly RouteDef[] | undefined) }) => {
  const log = deps.log.child({ module: 'http' })
  const given = deps.routes
  let matcher = typeof given === 'function' ? undefined : routeMatcher(given)
  const match = (path: string): string => {
    if (!matcher && typeof given === 'function') {
      const routes = given()
      if (!routes) return 'other'
      matcher = routeMatcher(routes)
    }
    return matcher!(path)
  }
  const quiet = (route: string, status: number) =>
    route.startsWith('/wechat') || route === '/healthz' || route === '/readyz' || (route === '/bind/:code/status' && status < 400)

  return {
    /**
     * For a route served natively (the callbacks): counter bound once; the debug line's fields (the client
     * address above all) are only built when debug is on.
     */
    bound: (route: string, method: string) => {
      const count = deps.metrics.httpCounter(route, method)
      return (res: Response, request: Request, server: PeerSource | null | undefined, started: number): Response => {
        count(res.status)
        if (log.enabled('debug')) log.debug('request', { method, route, status: res.status, ms: msSince(started), client: deps.clientOf(request, server) })
        return res
      }
    },

    /** Everything Elysia serves: the route pattern is looked up once the answer is there. */
    around: async (request: Request, server: PeerSource | null | undefined, handle: (request: Request) => Response | Promise<Response>): Promise<Response> => {
      const started = performance.now()
      let status = 500
      try {
        const res = await handle(request)
        status = res.status
        return res
      } finally {
        const path = pathOf(request.url)
        const route = match(path)
        deps.metrics.httpCounter(route, request.method)(status)
        const level = quiet(route, status) ? 'debug' : 'info'
        if (log.enabled(level)) {
          log[level]('request', {
            method: request.method, route, status, ms: msSince(started), client: deps.clientOf(request, server),
            // An unknown path is worth seeing in the log (not in a label): cut short, it is anyone's text.
            ...(route === 'other' ? { path: path.slice(0, 200) } : {}),
          })
        }
      }
    },
  }
}
