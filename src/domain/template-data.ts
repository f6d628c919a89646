/**
 * @module Template-message data checked before WeChat sees it (pure: no I/O, no clock).
 *
 * Category templates (类目模板) name each key `<type><digits>` (`thing1`, `amount2`, `time3`). WeChat
 * rejects (47003) or silently cuts values that break the rule of that type. The rules are one table, the
 * same for official-account category templates and mini-program subscribe messages:
 * - https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Template_Message_Interface.html
 *   (类目模板消息参数值内容限制说明; const: 20 characters, only approved values or the empty string)
 * - https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/mp-message-management/subscribe-message/sendMessage.html
 *   (订阅消息参数值内容限制说明, 其他说明: a "symbol" is a common character other than Chinese, letters and
 *   digits, never a control character; times are HH:MM or HH:MM:SS; dates are y年m月d日, y年m月, m月d日 or
 *   joined by "-", "/" or "."; time and date may be a range of two joined by "~").
 * Since 2023-05-04 WeChat also drops custom colours, emoji, "first" and "remark", cuts each field after 20
 * characters and drops line breaks (《关于规范公众号模板消息的再次公告》,
 * https://developers.weixin.qq.com/community/develop/doc/000a2ae286cdc0f41a8face4c51801). Those only alter
 * the message, so they are warnings; breaking a type rule is an error. Lengths count Unicode code points.
 */

export const KEY_TYPES = ['thing', 'time', 'amount', 'character_string', 'phrase', 'number', 'letter', 'symbol', 'phone_number', 'car_number', 'name', 'date', 'const'] as const
export type KeyType = (typeof KEY_TYPES)[number]
export type TemplateValue = string | { value: string; color?: string }
/** `limit` names the rule broken ("at most 20 characters"); `message` is one sentence naming key and rule. */
export interface TemplateDataIssue { key: string; limit: string; message: string }
/** unknown_template: the channel's template list (templates.service.ts) has no such templateId. */
export type TemplateWarningCode = 'emoji' | 'line_break' | 'color_ignored' | 'field_dropped' | 'too_long' | 'unknown_template'
export interface TemplateDataWarning { key: string; code: TemplateWarningCode; message: string }
export interface TemplateRule { maxLength: number; description: string }

/** The rules by key type, for the API documentation. `maxLength` is in code points. */
export const TEMPLATE_RULES: Readonly<Record<KeyType, TemplateRule>> = {
  thing: { maxLength: 20, description: 'Up to 20 characters: Chinese, letters, digits or symbols.' },
  number: { maxLength: 32, description: 'Up to 32 digits, optionally with one decimal point ("12.5").' },
  letter: { maxLength: 32, description: 'Up to 32 Latin letters (A-Z, a-z).' },
  symbol: { maxLength: 5, description: 'Up to 5 symbols (no Chinese, letters or digits).' },
  character_string: { maxLength: 32, description: 'Up to 32 digits, Latin letters or symbols; no Chinese.' },
  time: { maxLength: 32, description: 'A 24-hour time, optionally after a date: "15:01", "2019年10月1日 15:01", "2019-10-01 15:01:05"; a range joins two with "~".' },
  date: { maxLength: 32, description: 'A date, optionally with a 24-hour time: "2019年10月1日", "10月1日", "2019-10-01", "2019/10/01 15:01"; a range joins two with "~".' },
  amount: { maxLength: 15, description: 'An optional currency symbol, up to 10 integer digits and 2 decimals, an optional trailing "元": "¥100.00", "100元"; no sign, spaces or thousands separators.' },
  phone_number: { maxLength: 17, description: 'Up to 17 digits and symbols: "+86-0766-66888866".' },
  car_number: { maxLength: 8, description: 'Up to 8 letters and digits; the first and last may be Chinese: "粤A8Z888挂".' },
  name: { maxLength: 20, description: 'Chinese, letters or symbols, no digits: up to 10 characters if it contains Chinese, else up to 20.' },
  phrase: { maxLength: 5, description: 'Up to 5 Chinese characters: "配送中".' },
  const: { maxLength: 20, description: 'Up to 20 characters; only the values approved for the template, or the empty string.' },
}

const KEY_RE = new RegExp(`^(${KEY_TYPES.join('|')})\\d+$`)

/** 'thing1' → 'thing', 'character_string12' → 'character_string'; 'keyword1', 'first', 'thing' → undefined. */
export const typeOfKey = (key: string): KeyType | undefined => KEY_RE.exec(key)?.[1] as KeyType | undefined

// A symbol: anything but letters, digits, combining marks, control/format characters and line separators.
const SYM = '[^\\p{L}\\p{N}\\p{M}\\p{C}\\p{Zl}\\p{Zp}]'
const only = (cls: string) => new RegExp(`^(?:${cls})+$`, 'u')
const HAN = /\p{Script=Han}/u
const M = '(?:0?[1-9]|1[0-2])'
const D = '(?:0?[1-9]|[12]\\d|3[01])'
const CLOCK = '(?:[01]?\\d|2[0-3]):[0-5]\\d(?::[0-5]\\d)?'
const CN_DATE = `(?:\\d{4}年${M}月(?:${D}日)?|${M}月${D}日)`
const NUM_DATE = `(?:\\d{4}[-/.]${M}(?:[-/.]${D})?|${M}[-/.]${D})`
const DATE_TIME = `(?:${CN_DATE} ?|${NUM_DATE} )${CLOCK}`
const range = (point: string) => new RegExp(`^${point}(?: ?~ ?${point})?$`, 'u')

const FORMATS: Partial<Record<KeyType, readonly [limit: string, re: RegExp]>> = {
  number: ['digits only, with at most one decimal point', /^\d+(?:\.\d+)?$/],
  letter: ['Latin letters only', /^[A-Za-z]+$/],
  symbol: ['symbols only (no Chinese, letters or digits)', only(SYM)],
  character_string: ['digits, Latin letters and symbols only (no Chinese)', only(`[A-Za-z0-9]|${SYM}`)],
  time: ['a 24-hour time, optionally after a date ("15:01", "2019年10月1日 15:01", "2019-10-01 15:01")', range(`(?:${DATE_TIME}|${CLOCK})`)],
  date: ['a date, optionally with a time ("2019年10月1日", "2019-10-01", "2019-10-01 15:01")', range(`(?:${DATE_TIME}|${CN_DATE}|${NUM_DATE})`)],
  amount: ['an optional currency symbol, up to 10 digits and 2 decimals, an optional trailing "元" ("¥100.00", "100元")', /^\p{Sc}?\d{1,10}(?:\.\d{1,2})?元?$/u],
  phone_number: ['digits and symbols only, with at least one digit ("+86-0766-66888866")', new RegExp(`^(?=.*\\d)(?:[0-9]|${SYM})+$`, 'u')],
  car_number: ['letters and digits, the first and last may be Chinese ("粤A8Z888挂")', /^\p{Script=Han}?[A-Za-z0-9]+\p{Script=Han}?$/u],
  name: ['Chinese, letters or symbols only (no digits)', only(`\\p{L}|${SYM}`)],
  phrase: ['Chinese characters only', /^\p{Script=Han}+$/u],
}

/** The length limit for a value of this type (name: 10 if it contains Chinese, else 20). */
const limitFor = (type: KeyType, value: string): [max: number, limit: string] => {
  if (type === 'name' && HAN.test(value)) return [10, 'at most 10 characters when it contains Chinese']
  const max = TEMPLATE_RULES[type].maxLength
  return [max, `at most ${max} characters`]
}

// Emoji as rendered: emoji-presentation characters, text pictographs forced with VS16, keycaps. Plain
// \p{Extended_Pictographic} would also flag ©, ® and ™, which WeChat shows as ordinary text.
const EMOJI = /\p{Emoji_Presentation}|\p{Extended_Pictographic}\uFE0F|\u20E3/u
const LINE_BREAK = /[\r\n\u2028\u2029]/
const DROPPED = new Set(['first', 'remark'])
// Counted in code points; WeChat may count a run of Latin letters or digits as one, so this can over-warn.
const FIELD_MAX = 20

/**
 * Errors (WeChat would reject or mangle the message: do not send) and warnings (sent, but WeChat alters
 * it), both in the key order of `data`, at most one warning per key and code. Keys of no known type
 * (keyword1, first, remark, ...) get no errors (unless the value is not a string), only warnings.
 */
export const checkTemplateData = (data: Record<string, TemplateValue>): { errors: TemplateDataIssue[]; warnings: TemplateDataWarning[] } => {
  const errors: TemplateDataIssue[] = []
  const warnings: TemplateDataWarning[] = []
  const error = (key: string, limit: string, detail = '') => errors.push({ key, limit, message: `data.${key}: ${limit}${detail}` })
  const warn = (key: string, code: TemplateWarningCode, text: string) => warnings.push({ key, code, message: `data.${key}: ${text}` })

  for (const [key, raw] of Object.entries(data)) {
    const value: unknown = typeof raw === 'object' && raw !== null ? raw.value : raw
    if (typeof value !== 'string') {
      error(key, 'must be a string', ` (got ${value === null ? 'null' : typeof value})`)
      continue
    }
    const length = [...value].length
    const type = typeOfKey(key)
    if (type !== undefined) {
      if (value.trim() === '' && type !== 'const') error(key, 'must not be empty')
      else {
        const [max, limit] = limitFor(type, value)
        if (length > max) error(key, limit, ` (got ${length})`)
        const format = FORMATS[type]
        if (format !== undefined && !format[1].test(value)) error(key, format[0])
      }
    }

    if (EMOJI.test(value)) warn(key, 'emoji', 'contains an emoji, which WeChat removes')
    if (LINE_BREAK.test(value)) warn(key, 'line_break', 'contains a line break, which WeChat does not show')
    if (typeof raw === 'object' && raw !== null && raw.color !== undefined) warn(key, 'color_ignored', 'color is ignored: WeChat has shown the default colour since 2023-05-04')
    if (type === undefined && DROPPED.has(key)) warn(key, 'field_dropped', `WeChat no longer shows "${key}" (since 2023-05-04)`)
    else if (type === undefined && length > FIELD_MAX) warn(key, 'too_long', `WeChat cuts fields after ${FIELD_MAX} characters (got ${length})`)
  }
  return { errors, warnings }
}
