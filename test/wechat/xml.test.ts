/** @module Tests for src/wechat/xml.ts: strict parsing, refusal of DTDs and entity tricks, CDATA writing. */
import { describe, expect, test } from 'bun:test'
import { BadXmlError } from '../../src/lib/errors.ts'
import { asArray, cdata, parseXml } from '../../src/wechat/xml.ts'
import vectors from '../fixtures/vectors.json'

const bad = (raw: string): BadXmlError => {
  try {
    parseXml(raw)
  } catch (e) {
    expect(e).toBeInstanceOf(BadXmlError)
    return e as BadXmlError
  }
  throw new Error(`expected BadXmlError for ${JSON.stringify(raw.slice(0, 60))}`)
}

describe('parseXml', () => {
  test('official text sample: leaves are strings, MsgId keeps every digit', () => {
    expect(parseXml(vectors.samples.text)).toEqual({
      ToUserName: 'toUser',
      FromUserName: 'fromUser',
      CreateTime: '1348831860',
      MsgType: 'text',
      Content: 'this is a test',
      MsgId: '1234567890123456',
      MsgDataId: 'xxxx',
      Idx: 'xxxx',
    })
    expect(parseXml(vectors.samples.compat_mode_post_body).MsgId).toBe('6054768590064713728')
    expect(parseXml(vectors.samples.TEMPLATESENDJOBFINISH_compat_mode_observed).MsgID).toBe('3487542469355618313')
  })

  test('numbers that look like numbers stay strings (leading zeros, decimals, exponent, hex)', () => {
    expect(parseXml('<xml><A>007</A><B>119.385040</B><C>1e3</C><D>0x10</D></xml>')).toEqual({ A: '007', B: '119.385040', C: '1e3', D: '0x10' })
  })

  test('nested elements become objects; a repeated element becomes an array', () => {
    const f = parseXml(vectors.samples.subscribe_msg_popup_event)
    const list = asArray((f.SubscribeMsgPopupEvent as Record<string, unknown>).List)
    expect(list).toHaveLength(2)
    expect(list[1]).toEqual({ TemplateId: '9nLIlbOQZC5Y89AZteFEux3WCXRRRG5Wfzkpssu4bLI', SubscribeStatusString: 'reject', PopupScene: '2' })
    const pics = parseXml(vectors.samples.pic_sysphoto).SendPicsInfo
    expect(pics).toEqual({ Count: '1', PicList: { item: { PicMd5Sum: '1b5f7c23b5bf75682a53e7b6d163e185' } } })
  })

  test('empty elements and empty CDATA become the empty string; values are trimmed; CDATA is literal', () => {
    expect(parseXml('<xml><A></A><B/><C><![CDATA[]]></C><D>  x  </D><E><![CDATA[a &amp; <b>]]></E></xml>')).toEqual({
      A: '',
      B: '',
      C: '',
      D: 'x',
      E: 'a &amp; <b>',
    })
  })

  test('whitespace inside CDATA is kept (it is what the user typed)', () => {
    expect(parseXml('<xml><Content><![CDATA[  hi\n ]]></Content></xml>')).toEqual({ Content: '  hi\n ' })
  })

  test('CDATA next to text is merged into one value', () => {
    expect(parseXml('<xml><A>x<![CDATA[<y>]]>z</A></xml>')).toEqual({ A: 'x<y>z' })
  })

  test('the five predefined entities and character references are decoded once; others stay literal', () => {
    expect(parseXml('<xml><A>&lt;b&gt; &amp; &quot;q&quot; &apos;s&apos; &#20320;&#x597D; &amp;lt; &nbsp; &copy;</A></xml>')).toEqual({
      A: '<b> & "q" \'s\' 你好 &lt; &nbsp; &copy;',
    })
  })

  test('attributes, comments and the XML declaration are ignored', () => {
    expect(parseXml('<?xml version="1.0" encoding="UTF-8"?>\n<xml><!-- hi --><A id="1">v</A></xml>\n')).toEqual({ A: 'v' })
  })

  test('CJK and emoji text survives', () => {
    expect(parseXml('<xml><Content><![CDATA[你好👋🏽，世界]]></Content><Label>位置信息</Label></xml>')).toEqual({
      Content: '你好👋🏽，世界',
      Label: '位置信息',
    })
  })

  test('<xml></xml> gives no fields', () => {
    expect(parseXml('<xml></xml>')).toEqual({})
  })

  describe('refuses', () => {
    const cases: [string, string][] = [
      ['an empty body', ''],
      ['a blank body', ' \n\t'],
      ['success', 'success'],
      ['JSON', '{"ToUserName":"gh_1"}'],
      ['a DOCTYPE', '<!DOCTYPE xml><xml><A>1</A></xml>'],
      ['a lower-case doctype', '<!doctype xml><xml><A>1</A></xml>'],
      [
        'the billion-laughs entity bomb',
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">' +
          '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><xml><A>&lol3;</A></xml>',
      ],
      ['an external entity (XXE)', '<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><A>&xxe;</A></xml>'],
      ['an ENTITY declaration outside CDATA', '<xml><A>1</A><!ENTITY x "y"></xml>'],
      ['an unclosed element', '<xml><A>1</xml>'],
      ['mismatched tags', '<xml><A>1</B></xml>'],
      ['an unclosed root', '<xml><A>1</A>'],
      ['a root other than xml', '<root><A>1</A></root>'],
      ['a second root element', '<xml><A>1</A></xml><xml><A>2</A></xml>'],
      ['a root with text only', '<xml>hello</xml>'],
      ['mixed text and elements', '<xml>hello<A>1</A></xml>'],
      ['mixed text and elements one level down', '<xml><A>t<B>1</B></A></xml>'],
      ['a constructor element', '<xml><constructor>x</constructor></xml>'],
      ['a __proto__ element', '<xml><__proto__><polluted>1</polluted></__proto__></xml>'],
      ['a truncated body', vectors.samples.text.slice(0, 80)],
    ]
    for (const [name, raw] of cases) test(name, () => void bad(raw))

    test('the bomb does not expand and the error says why', () => {
      const e = bad('<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]><xml><A>&a;</A></xml>')
      expect(e.message).toContain('DOCTYPE')
      expect(e.code).toBe('bad_xml')
      expect(e.status).toBe(400)
    })
  })

  test('a prototype-named element never pollutes Object.prototype', () => {
    try {
      parseXml('<xml><__proto__><polluted>1</polluted></__proto__><constructor>x</constructor></xml>')
    } catch {}
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  test('every inbound sample parses to an object with MsgType', () => {
    for (const [name, raw] of Object.entries(vectors.samples)) {
      if (name.startsWith('reply_') || name === 'encrypted_reply_envelope' || name === 'safe_mode_post_body') continue
      expect(typeof parseXml(raw).MsgType).toBe('string')
    }
  })
})

describe('asArray', () => {
  test('normalises missing, single and repeated values', () => {
    expect(asArray(undefined)).toEqual([])
    expect(asArray(null)).toEqual([])
    expect(asArray({ a: '1' })).toEqual([{ a: '1' }])
    expect(asArray(['1', '2'])).toEqual(['1', '2'])
    expect(asArray('')).toEqual([''])
  })
})

describe('cdata', () => {
  test('wraps plain text', () => {
    expect(cdata('你好 <b>&')).toBe('<![CDATA[你好 <b>&]]>')
    expect(cdata('')).toBe('<![CDATA[]]>')
  })

  test('splits "]]>" across sections so the text round-trips', () => {
    for (const s of [']]>', 'a]]>b', ']]>]]>', ']]]>>', 'x]]']) {
      const wrapped = cdata(s)
      expect(parseXml(`<xml><A>${wrapped}</A></xml>`).A).toBe(s)
    }
    expect(cdata('a]]>b')).toBe('<![CDATA[a]]]]><![CDATA[>b]]>')
  })
})

describe('what a user typed is content, not markup', () => {
  test('"<!DOCTYPE html>" or "<!ENTITY" inside CDATA is a valid message', () => {
    expect(parseXml('<xml><Content><![CDATA[<!DOCTYPE html> and <!ENTITY x "y">]]></Content></xml>')).toEqual({ Content: '<!DOCTYPE html> and <!ENTITY x "y">' })
  })
  test('a DOCTYPE after a CDATA section is still refused', () => {
    expect(() => parseXml('<xml><A><![CDATA[x]]></A></xml><!DOCTYPE xml>')).toThrow(BadXmlError)
    expect(() => parseXml('<!DOCTYPE x [<!ENTITY a "<![CDATA[">]><xml><A>]]></A></xml>')).toThrow(BadXmlError)
  })
})

