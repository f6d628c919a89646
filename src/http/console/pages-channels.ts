/**
 * @module The console's channels page: the Official Accounts wxgate serves; add one, edit its name and the bind
 * reply texts a colleague sees in WeChat, and run `doctor` on it (its lines shown as the CLI prints them).
 */
import type { Channel } from '../../domain/channel.service'
import { changeForm, esc, facts, tr, type Lang } from './render'

export const channelsPage = (lang: Lang, o: { channels: Channel[]; canChange: boolean; csrf: string; doctor?: { channel: string; lines: string[]; failed: boolean } }): string => {
  const t = tr(lang)
  const doctor = o.doctor
    ? `<section class="card" id="doctor"><h2>doctor：${esc(o.doctor.channel)} ${o.doctor.failed ? `<span class="bad">${t('有问题', 'problems found')}</span>` : `<span class="ok">${t('全部正常', 'all ok')}</span>`}</h2>
<pre class="secret">${o.doctor.lines.map((l) => `<span class="${l.startsWith('FAIL') ? 'bad' : l.startsWith('warn') ? 'warn' : 'ok'}">${esc(l)}</span>`).join('\n')}</pre></section>`
    : ''
  const cards = o.channels.map((c) => {
    const id = encodeURIComponent(c.id)
    const edit = o.canChange
      ? changeForm(`/console/channels/${id}`, o.csrf, `<label>${t('公众号名称（显示在绑定页）', 'Account name (shown on the bind page)')}<input type="text" name="name" maxlength="64" value="${esc(c.name ?? '')}"></label>
<label>${t('绑定成功时的回复', 'Reply when bound')}<input type="text" name="bound" maxlength="600" value="${esc(c.replies.bound)}"></label>
<label>${t('绑定码已被使用时的回复', 'Reply when the code was used already')}<input type="text" name="alreadyUsed" maxlength="600" value="${esc(c.replies.alreadyUsed)}"></label>
<label>${t('绑定码过期时的回复', 'Reply when the code expired')}<input type="text" name="expired" maxlength="600" value="${esc(c.replies.expired)}"></label>
<button class="primary" type="submit">${t('保存', 'Save')}</button>`, { cls: 'stack' })
      + `<div class="row">${changeForm(`/console/channels/${id}/doctor`, o.csrf, `<button type="submit">${t('运行 doctor 检查', 'Run doctor')}</button>`)}</div>`
      : facts([
        [t('绑定成功', 'Bound'), esc(c.replies.bound)], [t('已被使用', 'Used already'), esc(c.replies.alreadyUsed)], [t('已过期', 'Expired'), esc(c.replies.expired)],
      ])
    return `<section class="card"><h2>${esc(c.name ?? c.id)} <span class="badge">${esc(c.id)}</span></h2>${facts([
      ['AppID', `<code>${esc(c.appId)}</code>`],
      [t('模式', 'Mode'), c.mode === 'safe' ? t('安全模式（加密）', 'safe mode (encrypted)') : t('明文模式', 'plaintext mode')],
    ])}${edit}</section>`
  })
  const add = o.canChange
    ? `<section class="card"><h2>${t('添加通道', 'Add a channel')}</h2>${changeForm('/console/channels', o.csrf, `<label>id<input type="text" name="id" required maxlength="64" placeholder="shop" pattern="[A-Za-z0-9_\\-]+"></label>
<label>AppID<input type="text" name="appId" required placeholder="wx…"></label>
<label>AppSecret<input type="password" name="appSecret" required autocomplete="off"></label>
<label>Token<input type="text" name="token" required maxlength="32" autocomplete="off"></label>
<label>EncodingAESKey ${t('（安全模式）', '(safe mode)')}<input type="text" name="aesKey" maxlength="43" autocomplete="off"></label>
<label>${t('公众号名称', 'Account name')}<input type="text" name="name" maxlength="64"></label>
<button class="primary" type="submit">${t('添加', 'Add')}</button>`, { cls: 'stack' })}</section>`
    : ''
  const empty = o.channels.length === 0 ? `<section class="card"><p class="empty">${t('还没有通道：在下面添加一个，或设置 WXGATE_APPID、WXGATE_APPSECRET、WXGATE_TOKEN 后重启。', 'No channel yet: add one below, or set WXGATE_APPID, WXGATE_APPSECRET and WXGATE_TOKEN and restart.')}</p></section>` : ''
  return doctor + empty + `<div class="grid">${cards.join('')}</div>` + add
}
