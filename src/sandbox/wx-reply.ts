/**
 * @module How the sandbox answers like api.weixin.qq.com: errors are HTTP 200 JSON with an errcode and an
 * errmsg ending in " rid: …", using the official errmsg texts (PROTOCOL.md §6, §5).
 */

const JSON_TYPE = 'application/json; charset=utf-8'

/** Official errmsg texts; codes without a known text fall back to a neutral one. */
export const ERRMSGS: ReadonlyMap<number, string> = new Map([
  [-1, 'system error'],
  [0, 'ok'],
  [40001, 'invalid credential, access_token is invalid or not latest'],
  [40002, 'invalid grant_type'],
  [40003, 'invalid openid'],
  [40013, 'invalid appid'],
  [40014, 'invalid access_token'],
  [40036, 'invalid template_id size'],
  [40037, 'invalid template_id'],
  [40053, 'invalid action_info, please check document'],
  [40125, 'invalid appsecret'],
  [40164, 'invalid ip 127.0.0.1 ipv6 ::ffff:127.0.0.1, not in whitelist'],
  [40243, 'AppSecret is frozen'],
  [41001, 'access_token missing'],
  [41002, 'appid missing'],
  [41004, 'appsecret missing'],
  [42001, 'access_token expired'],
  [43002, 'require POST method'],
  [43004, 'require subscribe'],
  [43019, 'require remove blacklist'],
  [43101, 'user refuse to accept the msg'],
  [45009, 'reach max api daily quota limit'],
  [45011, 'api minute-quota reach limit must slower retry next minute'],
  [45002, 'content size out of limit'],
  [45008, 'article size out of limit'],
  [45015, 'response out of time limit or subscription is canceled'],
  [45047, 'out of response count limit'],
  [45080, 'has not sent message to user in 30 seconds'],
  [45081, 'already in typing'],
  [47001, 'data format error'],
  [47003, 'argument invalid!'],
  [48001, 'api unauthorized'],
  [48006, 'forbid to clear quota because of reaching the limit'],
  [48017, 'api forbidden for ip'],
  [50001, 'user unauthorized'],
  [50002, 'user limited'],
  [89501, '此IP正在等待管理员确认'],
  [89503, '此IP调用需要管理员确认'],
  [89506, '24小时内该IP被管理员拒绝调用两次'],
  [89507, '1小时内该IP被管理员拒绝调用一次'],
])

export const officialErrmsg = (errcode: number): string => ERRMSGS.get(errcode) ?? 'sandbox injected error'

/** The rid WeChat appends to errmsg: three groups of 8 hex digits, e.g. "64f1a2b3-1c2d3e4f-5a6b7c8d". */
export const makeRid = (random: () => number): string => {
  const group = () => Math.floor(random() * 0x100000000).toString(16).padStart(8, '0').slice(-8)
  return `${group()}-${group()}-${group()}`
}

/** A JSON answer from already-serialised text (so 64-bit numbers can be written raw). */
export const jsonText = (text: string, status = 200): Response =>
  new Response(text, { status, headers: { 'content-type': JSON_TYPE } })

export const jsonAnswer = (value: unknown, status = 200): Response => jsonText(JSON.stringify(value), status)

/**
 * An API error as WeChat sends it. errcode 0 is "ok" without a rid, as the real success answers;
 * `detail` replaces the official text (e.g. 47003 names the field).
 */
export const wxError = (random: () => number, errcode: number, detail?: string): Response => {
  const text = detail ?? officialErrmsg(errcode)
  const errmsg = errcode === 0 ? text : `${text} rid: ${makeRid(random)}`
  return jsonAnswer({ errcode, errmsg })
}

export const wxOk = (): Response => jsonAnswer({ errcode: 0, errmsg: 'ok' })

const STATUS_TEXTS: ReadonlyMap<number, string> = new Map([
  [400, 'Bad Request'], [403, 'Forbidden'], [404, 'Not Found'], [429, 'Too Many Requests'],
  [500, 'Internal Server Error'], [502, 'Bad Gateway'], [503, 'Service Unavailable'], [504, 'Gateway Timeout'],
])

/** A short non-JSON answer, as a proxy in front of WeChat would give. */
export const httpText = (status: number): Response => {
  // These statuses must not carry a body (fetch's Response refuses one).
  if (status === 204 || status === 205 || status === 304) return new Response(null, { status })
  return new Response(`${status} ${STATUS_TEXTS.get(status) ?? 'Error'}`, { status, headers: { 'content-type': 'text/plain; charset=utf-8' } })
}
