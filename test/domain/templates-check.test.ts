/** @module Unit tests for checkAgainstTemplates: a send's data keys and templateId against a channel's template list (pure). */
import { describe, expect, test } from 'bun:test'
import { checkAgainstTemplates, type TemplateView } from '../../src/domain/templates.service'
import { parseTemplateContent } from '../../src/wechat/template-content'

const LIST: TemplateView[] = [
  { templateId: 'TPL_PAID', title: '订单支付成功通知', fields: parseTemplateContent('商品名称：{{thing1.DATA}}\n支付金额：{{amount2.DATA}}\n支付时间：{{time3.DATA}}') },
  { templateId: 'TPL_BARE', title: 'bare', fields: [] },
]
const check = (templateId: string, keys: string[]) => checkAgainstTemplates(LIST, { channelId: 'shop', templateId, keys })

describe('checkAgainstTemplates', () => {
  test("a key the template lacks: the error names it and the template's keys; details list every unknown key", () => {
    const { error, warning } = check('TPL_PAID', ['thing1', 'amount3', 'phrase9'])
    expect(warning).toBeUndefined()
    expect(error?.status).toBe(422)
    expect(error?.message).toBe('data.amount3: template TPL_PAID has no field amount3; its fields are thing1, amount2, time3')
    expect(error?.details).toEqual({ templateId: 'TPL_PAID', unknownKeys: ['amount3', 'phrase9'], fields: ['thing1', 'amount2', 'time3'] })
  })

  test('its own keys, a subset of them, and first/remark pass', () => {
    expect(check('TPL_PAID', ['thing1', 'amount2', 'time3'])).toEqual({})
    expect(check('TPL_PAID', ['thing1'])).toEqual({})
    expect(check('TPL_PAID', ['first', 'thing1', 'remark'])).toEqual({})
  })

  test('a template of unknown fields (no placeholders) is not checked', () => {
    expect(check('TPL_BARE', ['anything1'])).toEqual({})
  })

  test('an unknown templateId is a warning naming the route that lists the templates', () => {
    expect(check('TPL_GONE', ['thing1'])).toEqual({
      warning: {
        key: 'templateId',
        code: 'unknown_template',
        message: 'templateId: no template TPL_GONE on channel shop (WeChat will answer 40037); GET /api/channels/shop/templates lists them',
      },
    })
  })
})
