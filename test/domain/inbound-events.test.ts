/** The webhook feed's pre-filter: the types a stored row can produce, from its columns alone, always hold the exact one. */
import { describe, expect, test } from 'bun:test'
import { callbackEventCandidates, callbackEventType } from '../../src/domain/inbound-events'
import { parseMessage } from '../../src/wechat/messages'
import { parseXml } from '../../src/wechat/xml'

const head = (type: string) => `<ToUserName><![CDATA[gh_x]]></ToUserName><FromUserName><![CDATA[o_x]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[${type}]]></MsgType>`
const msg = (type: string, fields: string) => `<xml>${head(type)}${fields}<MsgId>1234567890123456</MsgId></xml>`
const ev = (event: string, fields = '') => `<xml>${head('event')}<Event><![CDATA[${event}]]></Event>${fields}</xml>`

const samples = [
  msg('text', '<Content>hi</Content>'), msg('image', '<PicUrl>u</PicUrl><MediaId>m</MediaId>'), msg('voice', '<MediaId>m</MediaId><Format>amr</Format>'),
  msg('location', '<Location_X>1</Location_X><Location_Y>2</Location_Y><Scale>3</Scale><Label>l</Label>'), msg('file', '<Title>t</Title>'),
  ev('subscribe'), ev('subscribe', '<EventKey>qrscene_123</EventKey><Ticket>t</Ticket>'), ev('unsubscribe'), ev('SCAN', '<EventKey>abc</EventKey><Ticket>t</Ticket>'),
  ev('LOCATION', '<Latitude>1</Latitude><Longitude>2</Longitude><Precision>3</Precision>'), ev('LOCATION'), ev('location'),
  ev('CLICK', '<EventKey>K</EventKey>'), ev('CLICK'), ev('click', '<EventKey>K</EventKey>'), ev('VIEW', '<EventKey>http://x</EventKey>'),
  ev('scancode_push', '<EventKey>k</EventKey><ScanCodeInfo><ScanType>qrcode</ScanType><ScanResult>1</ScanResult></ScanCodeInfo>'),
  ev('pic_sysphoto', '<EventKey>6</EventKey><SendPicsInfo><Count>0</Count></SendPicsInfo>'), ev('view_miniprogram', '<EventKey>p</EventKey>'),
  ev('TEMPLATESENDJOBFINISH', '<MsgID>1</MsgID><Status>success</Status>'), ev('MASSSENDJOBFINISH', '<MsgID>1</MsgID>'), ev('weapp_audit_success'),
]

describe('callbackEventCandidates', () => {
  test('holds the exact type of every sample, claimed or not (and nothing when a claimed row makes no event)', () => {
    for (const xml of samples) {
      const m = parseMessage(parseXml(xml))
      const event = 'event' in m && typeof m.event === 'string' ? m.event : null
      for (const claimed of [false, true]) {
        const exact = callbackEventType(m, claimed)
        const candidates = callbackEventCandidates(m.msgType, event, claimed)
        if (exact === undefined) expect(candidates).toEqual([])
        else expect(candidates).toContain(exact)
      }
    }
  })
})
