/**
 * A gateway's colours as CSS variables. Gateways pick their colours freely, so each is
 * checked against WCAG AA (4.5:1 for text) and darkened or lightened until it passes.
 */

/** The theme keys a gateway may set, with the defaults used when it does not. */
export const defaultTheme = {
  primary: '#1f5fbf',
  accent: '#6f42c1',
  background: '#ffffff',
  text: '#1b1f24',
} as const;

type Rgb = [number, number, number];

function parseColour(value: string | undefined): Rgb | null {
  const hex = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(value?.trim() ?? '')?.[1];
  if (!hex) return null;
  const full = hex.length === 3 ? [...hex].map((c) => c + c).join('') : hex;
  return [0, 2, 4].map((i) => parseInt(full.slice(i, i + 2), 16)) as Rgb;
}

function toHex(rgb: Rgb): string {
  return (
    '#' +
    rgb
      .map((c) =>
        Math.round(Math.min(255, Math.max(0, c)))
          .toString(16)
          .padStart(2, '0'),
      )
      .join('')
  );
}

function luminance([r, g, b]: Rgb): number {
  const channel = (c: number) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
}

/** WCAG contrast ratio of two colours (1 to 21). */
export function contrast(a: Rgb, b: Rgb): number {
  const [light, dark] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (light + 0.05) / (dark + 0.05);
}

/** `colour`, moved toward black (on a light background) or white until it reaches 4.5:1 against `background`. */
function readableOn(colour: Rgb, background: Rgb): Rgb {
  const target: Rgb = luminance(background) > 0.18 ? [0, 0, 0] : [255, 255, 255];
  let mixed = colour;
  for (let step = 1; step <= 20 && contrast(mixed, background) < 4.5; step++) {
    mixed = colour.map((c, i) => c + (target[i] - c) * (step / 20)) as Rgb;
  }
  return mixed;
}

/** White or near-black text, whichever reads better on `colour` (for filled buttons). */
function textOn(colour: Rgb): Rgb {
  return contrast([255, 255, 255], colour) >= contrast([27, 31, 36], colour) ? [255, 255, 255] : [27, 31, 36];
}

/**
 * Sets the gateway's colours on the document: `--primary`, `--accent`, `--bg`, `--text`
 * and the derived `--on-primary` (text on primary buttons). Unknown or invalid values
 * fall back to the defaults; passing nothing restores them.
 */
export function applyTheme(theme: Record<string, string> = {}): void {
  const background = parseColour(theme.background) ?? parseColour(defaultTheme.background)!;
  let text = parseColour(theme.text) ?? parseColour(defaultTheme.text)!;
  if (contrast(text, background) < 7) text = readableOn(text, background);
  // Primary buttons keep the gateway's exact colour with a text colour that reads on it; links use a readable variant.
  const primaryFill = parseColour(theme.primary) ?? parseColour(defaultTheme.primary)!;
  const primary = readableOn(primaryFill, background);
  const buttonFill = contrast(textOn(primaryFill), primaryFill) >= 4.5 ? primaryFill : primary;
  const accent = readableOn(parseColour(theme.accent) ?? parseColour(defaultTheme.accent)!, background);
  const style = document.documentElement.style;
  style.setProperty('--bg', toHex(background));
  style.setProperty('--text', toHex(text));
  style.setProperty('--primary', toHex(primary));
  style.setProperty('--primary-fill', toHex(buttonFill));
  style.setProperty('--on-primary', toHex(textOn(buttonFill)));
  style.setProperty('--accent', toHex(accent));
  // Dark backgrounds get a light colour scheme flip for form controls and scrollbars.
  style.setProperty('color-scheme', luminance(background) > 0.18 ? 'light' : 'dark');
}
