/** @module Tests for the template content parser on contents shaped like get_all_private_template's answers. */
import { describe, expect, test } from 'bun:test'
import { fieldTypeOf, parseTemplateContent } from '../../src/wechat/template-content'

describe('parseTemplateContent', () => {
  test('a category template: several fields, ASCII colons, a blank line', () => {
    expect(parseTemplateContent('商品名称:{{thing1.DATA}}\n支付金额:{{amount2.DATA}}\n\n支付时间:{{time3.DATA}}')).toEqual([
      { key: 'thing1', type: 'thing', label: '商品名称' },
      { key: 'amount2', type: 'amount', label: '支付金额' },
      { key: 'time3', type: 'time', label: '支付时间' },
    ])
  })

  test('full-width colons, spaces around them, CRLF lines, no colon at all', () => {
    expect(parseTemplateContent('订单编号：{{character_string1.DATA}}\r\n 退款原因 ： {{thing2.DATA}}\r\n手机号码{{phone_number3.DATA}}')).toEqual([
      { key: 'character_string1', type: 'character_string', label: '订单编号' },
      { key: 'thing2', type: 'thing', label: '退款原因' },
      { key: 'phone_number3', type: 'phone_number', label: '手机号码' },
    ])
  })

  test('an old industry template: {{first.DATA}} and {{remark.DATA}} alone on their lines, keyword fields, a line without a field', () => {
    const content = '{{first.DATA}}\n商品名称：{{keyword1.DATA}}\n消费金额：{{keyword2.DATA}}\n感谢您的光临\n{{remark.DATA}}'
    expect(parseTemplateContent(content)).toEqual([
      { key: 'first', type: 'first', label: '' },
      { key: 'keyword1', type: 'keyword', label: '商品名称' },
      { key: 'keyword2', type: 'keyword', label: '消费金额' },
      { key: 'remark', type: 'remark', label: '' },
    ])
  })

  test("the official page's example, printed with spaces inside the braces, camelCase keys without digits", () => {
    const content = '{ {result.DATA} }\n\n领奖金额:{ {withdrawMoney.DATA} }\n领奖  时间:    { {withdrawTime.DATA} }\n银行信息:{ {cardInfo.DATA} }\n到账时间:  { {arrivedTime.DATA} }\n{ {remark.DATA} }'
    expect(parseTemplateContent(content).map((f) => [f.key, f.type, f.label])).toEqual([
      ['result', 'result', ''],
      ['withdrawMoney', 'withdrawMoney', '领奖金额'],
      ['withdrawTime', 'withdrawTime', '领奖  时间'],
      ['cardInfo', 'cardInfo', '银行信息'],
      ['arrivedTime', 'arrivedTime', '到账时间'],
      ['remark', 'remark', ''],
    ])
  })

  test('two fields on one line: the second is labelled by the text between them; a repeated key counts once', () => {
    expect(parseTemplateContent('起点：{{thing1.DATA}} 终点：{{thing2.DATA}}\n再次：{{thing1.DATA}}')).toEqual([
      { key: 'thing1', type: 'thing', label: '起点' },
      { key: 'thing2', type: 'thing', label: '终点' },
    ])
  })

  test('no placeholders (an empty or free-text content): no fields', () => {
    expect(parseTemplateContent('')).toEqual([])
    expect(parseTemplateContent('欢迎关注 {{not a field}} {{.DATA}}')).toEqual([])
  })

  test('fieldTypeOf strips only the trailing digits', () => {
    expect(['thing1', 'character_string12', 'time3', 'keyword1', 'first', 'car_number4'].map(fieldTypeOf))
      .toEqual(['thing', 'character_string', 'time', 'keyword', 'first', 'car_number'])
  })
})
