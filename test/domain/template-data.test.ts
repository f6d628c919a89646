/** Template data rules: limits by key type, formats, code-point counting, warnings (pure, no deps). */
import { describe, expect, test } from 'bun:test'
import { checkTemplateData, KEY_TYPES, TEMPLATE_RULES, typeOfKey, type TemplateValue } from '../../src/domain/template-data'

const errorsOf = (data: Record<string, TemplateValue>) => checkTemplateData(data).errors
const warningCodes = (data: Record<string, TemplateValue>) => checkTemplateData(data).warnings.map((w) => `${w.key}:${w.code}`)
const ok = (key: string, value: string) => expect(errorsOf({ [key]: value })).toEqual([])
const bad = (key: string, value: string, limit: string) => {
  const errors = errorsOf({ [key]: value })
  expect(errors.map((e) => e.limit)).toContain(limit)
  for (const e of errors) expect(e.message).toStartWith(`data.${key}: `)
}

test('typeOfKey reads <type><digits>, and nothing else', () => {
  expect(typeOfKey('thing1')).toBe('thing')
  expect(typeOfKey('character_string12')).toBe('character_string')
  expect(typeOfKey('phone_number3')).toBe('phone_number')
  expect(typeOfKey('number01')).toBe('number')
  for (const key of ['keyword1', 'first', 'remark', 'foo', 'thing', 'Thing1', 'thing1a', 'string1', 'short_thing1', 'enum1']) expect(typeOfKey(key)).toBeUndefined()
})

test('TEMPLATE_RULES lists every type with a length and a description', () => {
  expect(Object.keys(TEMPLATE_RULES).sort()).toEqual([...KEY_TYPES].sort())
  for (const rule of Object.values(TEMPLATE_RULES)) {
    expect(rule.maxLength).toBeGreaterThan(0)
    expect(rule.description.length).toBeGreaterThan(10)
  }
})

describe('a value at the limit passes, one over is an error naming key and limit', () => {
  const cases: [key: string, atLimit: string, over: string, limit: string][] = [
    ['thing1', 'a'.repeat(20), 'a'.repeat(21), 'at most 20 characters'],
    ['thing2', '充'.repeat(20), '充'.repeat(21), 'at most 20 characters'],
    ['number3', '1'.repeat(32), '1'.repeat(33), 'at most 32 characters'],
    ['letter4', 'a'.repeat(32), 'a'.repeat(33), 'at most 32 characters'],
    ['symbol5', '-----', '------', 'at most 5 characters'],
    ['character_string6', 'A1-'.repeat(10) + 'Z9', 'A1-'.repeat(11), 'at most 32 characters'],
    ['time7', '2019-10-01 15:01:05 ~10-07 15:01', '2019-10-01 15:01:05 ~ 10-07 15:01', 'at most 32 characters'],
    ['date8', '2019年10月01日 15:01:00~2019年10月07日', '2019年10月01日 15:01:00 ~2019年10月07日', 'at most 32 characters'],
    ['amount9', '¥1234567890.00元', '¥12345678901.00元', 'at most 15 characters'],
    ['phone_number10', '+86-0766-66888866', '+86-0766-668888660', 'at most 17 characters'],
    ['car_number11', '粤A8Z888挂', '粤A8Z8888挂', 'at most 8 characters'],
    ['name12', '张'.repeat(10), '张'.repeat(11), 'at most 10 characters when it contains Chinese'],
    ['name13', 'Li张'.padEnd(10, '三'), 'Li张'.padEnd(11, '三'), 'at most 10 characters when it contains Chinese'],
    ['name14', 'a'.repeat(20), 'a'.repeat(21), 'at most 20 characters'],
    ['phrase15', '货物配送中', '货物正在配送中', 'at most 5 characters'],
    ['const16', 'x'.repeat(20), 'x'.repeat(21), 'at most 20 characters'],
  ]
  for (const [key, atLimit, over, limit] of cases) {
    test(`${key}: ${limit}`, () => {
      ok(key, atLimit)
      const errors = errorsOf({ [key]: over })
      expect(errors[0]).toEqual({ key, limit, message: `data.${key}: ${limit} (got ${[...over].length})` })
    })
  }
})

test('lengths count code points: emoji and CJK (including astral CJK) are one each', () => {
  ok('thing1', '😀'.repeat(20)) // 40 UTF-16 units
  expect(errorsOf({ thing1: '😀'.repeat(21) })[0]?.message).toBe('data.thing1: at most 20 characters (got 21)')
  ok('thing1', '𠀀'.repeat(20))
  ok('phrase1', '𠀀𠀁𠀂𠀃𠀄')
  bad('phrase1', '𠀀𠀁𠀂𠀃𠀄𠀅', 'at most 5 characters')
})

test('format rules by type', () => {
  ok('number1', '12.5')
  bad('number1', '12a', 'digits only, with at most one decimal point')
  bad('number1', '1.2.3', 'digits only, with at most one decimal point')
  bad('number1', '-3', 'digits only, with at most one decimal point')
  bad('letter1', 'abc1', 'Latin letters only')
  ok('symbol1', '+-*/!')
  bad('symbol1', 'a', 'symbols only (no Chinese, letters or digits)')
  bad('phrase1', 'OK了', 'Chinese characters only')
  bad('phrase1', '配送 中', 'Chinese characters only')
  ok('character_string1', 'SN-2026/001_a#9')
  bad('character_string1', '测试订阅消息1', 'digits, Latin letters and symbols only (no Chinese)')
  ok('phone_number1', '+86 0766 66888866')
  bad('phone_number1', '电话123', 'digits and symbols only, with at least one digit ("+86-0766-66888866")')
  bad('phone_number1', '---', 'digits and symbols only, with at least one digit ("+86-0766-66888866")')
  ok('car_number1', '粤A8Z888')
  ok('car_number1', 'A8Z888')
  bad('car_number1', '粤A·8Z88', 'letters and digits, the first and last may be Chinese ("粤A8Z888挂")')
  bad('car_number1', 'A粤8Z888', 'letters and digits, the first and last may be Chinese ("粤A8Z888挂")')
  ok('name1', 'John Smith')
  ok('name1', 'Li 张-三')
  bad('name1', 'R2D2', 'Chinese, letters or symbols only (no digits)')
  ok('thing1', 'Order #12, 已发货!')
})

test('amount: one optional currency symbol, ≤ 10 integer digits, ≤ 2 decimals, optional trailing 元', () => {
  for (const v of ['¥100.00', '￥100.00', '100元', '100', '$5', '€0.5', '1234567890.99', '¥100元']) ok('amount1', v)
  for (const v of ['1,000.5', '-100', '¥ 100', '100 元', '100.123', '12345678901', '¥¥100', 'RMB100', '100.', '.5', '一百元']) {
    expect(errorsOf({ amount1: v }).map((e) => e.limit)).toEqual([expect.stringContaining('an optional currency symbol')])
  }
})

test('time: a 24-hour time, optionally after a date, or a range joined by "~"', () => {
  for (const v of ['15:01', '9:05', '15:01:05', '2019年10月1日 15:01', '2019年10月1日15:01', '2019-10-01 15:01', '2019/10/01 15:01:59', '10月1日 08:00', '15:00~17:00', '2019-10-01 15:00 ~ 17:00']) ok('time1', v)
  for (const v of ['2019-10-01', '25:00', '15:60', '3pm', '2019-10-01T15:01', '15:00-17:00', '下午三点']) bad('time1', v, 'a 24-hour time, optionally after a date ("15:01", "2019年10月1日 15:01", "2019-10-01 15:01")')
})

test('date: 年月日 or joined by - / ., optionally with a time, or a range', () => {
  for (const v of ['2019年10月1日', '2019年10月', '10月1日', '2019-10-01', '2019/10/01', '2019.10.01', '2019-10', '10-01', '2019-10-01 15:01', '2019年10月1日 15:01', '2019年10月1日~10月7日']) ok('date1', v)
  for (const v of ['2019-13-01', '2019-10-32', '20191001', '明天', 'Oct 1, 2019', '2019-10-01T15:01']) bad('date1', v, 'a date, optionally with a time ("2019年10月1日", "2019-10-01", "2019-10-01 15:01")')
})

test('an empty value is an error for typed keys, except const (WeChat accepts an empty const)', () => {
  expect(errorsOf({ thing1: '' })).toEqual([{ key: 'thing1', limit: 'must not be empty', message: 'data.thing1: must not be empty' }])
  expect(errorsOf({ amount1: '  ' })).toEqual([{ key: 'amount1', limit: 'must not be empty', message: 'data.amount1: must not be empty' }])
  expect(errorsOf({ phrase1: { value: '' } })[0]?.limit).toBe('must not be empty')
  expect(errorsOf({ const1: '', keyword1: '', first: '' })).toEqual([])
})

test('keys of unknown type get no errors, whatever the value', () => {
  const data = { keyword1: 'x'.repeat(200), first: '', remark: '😀', foo: '12a', thing: 'x'.repeat(50), Thing1: 'x'.repeat(50) }
  expect(errorsOf(data)).toEqual([])
})

test('errors follow the key order of the input; length and format may both be reported', () => {
  const errors = errorsOf({ phrase9: 'Hello World', thing1: 'x'.repeat(21), keyword1: 'fine', number2: '' })
  expect(errors.map((e) => [e.key, e.limit])).toEqual([
    ['phrase9', 'at most 5 characters'],
    ['phrase9', 'Chinese characters only'],
    ['thing1', 'at most 20 characters'],
    ['number2', 'must not be empty'],
  ])
  expect(checkTemplateData({ phrase9: 'Hello World', thing1: 'x'.repeat(21) })).toEqual(checkTemplateData({ phrase9: 'Hello World', thing1: 'x'.repeat(21) }))
})

test('the object form { value, color } is checked like a string, and the colour is flagged', () => {
  expect(errorsOf({ thing1: { value: 'x'.repeat(21), color: '#173177' } })[0]?.limit).toBe('at most 20 characters')
  expect(checkTemplateData({ thing1: { value: '审核拒绝' } })).toEqual({ errors: [], warnings: [] })
  const { warnings } = checkTemplateData({ amount2: { value: '¥100.00', color: '#173177' } })
  expect(warnings).toEqual([{ key: 'amount2', code: 'color_ignored', message: expect.stringContaining('data.amount2: color is ignored') }])
})

test('warnings: emoji, line break, colour, once per key and code, on typed and untyped keys', () => {
  expect(warningCodes({ thing1: '好评👍👍', keyword1: 'a\nb\r\nc', remark: { value: '❤️ 谢谢\n', color: '#ff0000' } })).toEqual([
    'thing1:emoji',
    'keyword1:line_break',
    'remark:emoji',
    'remark:line_break',
    'remark:color_ignored',
    'remark:field_dropped',
  ])
  expect(warningCodes({ keyword1: '🇨🇳', keyword2: '1️⃣' })).toEqual(['keyword1:emoji', 'keyword2:emoji'])
  expect(warningCodes({ thing1: '©2026 Acme™', keyword1: '☎ 12345' })).toEqual([]) // text-style pictographs are not emoji
  expect(checkTemplateData({ thing1: 'a\nb' }).errors).toEqual([]) // a thing may carry it; WeChat just drops it
})

test('untyped keys: first/remark are dropped by WeChat, other fields over 20 characters are cut', () => {
  const { warnings } = checkTemplateData({ first: '您好', keyword1: 'x'.repeat(21), keyword2: 'x'.repeat(20), thing1: 'x'.repeat(21) })
  expect(warnings.map((w) => `${w.key}:${w.code}`)).toEqual(['first:field_dropped', 'keyword1:too_long'])
  expect(warnings[1]?.message).toBe('data.keyword1: WeChat cuts fields after 20 characters (got 21)')
})

test('a value that is not a string is an error, not a crash', () => {
  const data = { thing1: 100, keyword1: { value: null } } as unknown as Record<string, TemplateValue>
  expect(errorsOf(data).map((e) => e.message)).toEqual(['data.thing1: must be a string (got number)', 'data.keyword1: must be a string (got null)'])
})

test('the example from the API documentation passes with one colour warning', () => {
  const result = checkTemplateData({ thing1: '充值资金入账审核拒绝', amount2: { value: '¥100.00', color: '#173177' }, time3: '2026年11月24日 15:01' })
  expect(result.errors).toEqual([])
  expect(result.warnings.map((w) => w.code)).toEqual(['color_ignored'])
})
