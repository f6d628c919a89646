/** @module Tests for the sandbox's get_all_private_template: the account's templates, their contents, the token check. */
import { describe, expect, test } from 'bun:test'
import { DEMO_ACCOUNT, DEMO_TEMPLATES } from '../../src/sandbox'
import { parseTemplateContent } from '../../src/wechat/template-content'
import { OTHER_ACCOUNT, errmsgLike, get, json, post, setup, stable } from './sandbox-helpers'

const PATH = '/cgi-bin/template/get_all_private_template'

describe('get_all_private_template', () => {
  test("lists the demo account's templates with real-looking contents and Chinese labels", async () => {
    const { sb } = await setup()
    const { access_token } = await stable(sb)
    const res = await get(sb, PATH, { access_token })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8')
    const body = await res.json() as { template_list: Record<string, string>[] }
    expect(body.template_list.map((t) => t.template_id)).toEqual([...DEMO_TEMPLATES])
    const paid = body.template_list[0]!
    expect(Object.keys(paid).sort()).toEqual(['content', 'deputy_industry', 'example', 'primary_industry', 'template_id', 'title'])
    expect(paid.title).toBe('订单支付成功通知')
    expect(parseTemplateContent(paid.content!).slice(0, 3)).toEqual([
      { key: 'thing1', type: 'thing', label: '商品名称' },
      { key: 'amount2', type: 'amount', label: '支付金额' },
      { key: 'time3', type: 'time', label: '支付时间' },
    ])
    expect(paid.example).toContain('商品名称：巧克力')
  })

  test("each account sees its own templates; one added without content is listed with content ''; the control route takes a content", async () => {
    const { sb } = await setup()
    sb.addTemplate(OTHER_ACCOUNT.appId, 'TPL_BARE')
    expect(await json(post(sb, '/_sandbox/templates', { appId: OTHER_ACCOUNT.appId, templateId: 'TPL_CURL', title: '到货提醒', content: '商品：{{thing1.DATA}}' }))).toEqual({ ok: true })
    const { access_token } = await stable(sb, {}, OTHER_ACCOUNT)
    expect(await json(get(sb, PATH, { access_token }))).toEqual({
      template_list: [
        { template_id: 'TPL_BARE', title: 'TPL_BARE', primary_industry: '', deputy_industry: '', content: '', example: '' },
        { template_id: 'TPL_CURL', title: '到货提醒', primary_industry: '', deputy_industry: '', content: '商品：{{thing1.DATA}}', example: '' },
      ],
    })
  })

  test('needs a valid token: 41001 without, 40001 unknown or revoked, 42001 expired', async () => {
    const { sb } = await setup()
    const missing = await json(get(sb, PATH))
    expect(missing.errcode).toBe(41001)
    expect(missing.errmsg).toMatch(errmsgLike('access_token missing'))
    expect((await json(get(sb, PATH, { access_token: 'nope' }))).errcode).toBe(40001)
    const a = await stable(sb)
    sb.revokeTokens(DEMO_ACCOUNT.appId)
    expect((await json(get(sb, PATH, { access_token: a.access_token }))).errcode).toBe(40001)
    const b = await stable(sb)
    sb.expireTokens()
    expect((await json(get(sb, PATH, { access_token: b.access_token }))).errcode).toBe(42001)
  })

  test('is recorded and takes injections like every other route', async () => {
    const { sb } = await setup()
    const { access_token } = await stable(sb)
    sb.inject({ path: PATH, errcode: 45009 })
    expect((await json(get(sb, PATH, { access_token }))).errcode).toBe(45009)
    expect((await json(get(sb, PATH, { access_token }))).template_list).toHaveLength(2)
    expect(sb.calls(PATH)).toBe(2)
  })
})
