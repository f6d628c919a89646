/**
 * @module The one design system of what people see in a browser: the bind page (a colleague on a phone) and the
 * console (the team). Both build their CSS from these values, so they look like one product.
 */
export const DESIGN = {
  font: '-apple-system,BlinkMacSystemFont,"PingFang SC","Hiragino Sans GB","Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei",sans-serif',
  bg: '#f2f3f5',
  card: '#fff',
  text: '#1d2129',
  muted: '#4e5969',
  subtle: '#86909c',
  line: '#e5e6eb',
  /** WeChat's green, for what went well (已绑定, sent). */
  green: '#07c160',
  greenText: '#067a42',
  red: '#b42318',
  amber: '#ad6800',
  radius: '16px',
  shadow: '0 4px 20px rgba(0,0,0,.08)',
} as const
