/**
 * A tiny PNG writer (node:zlib only) with a built-in 5×7 bitmap font, and a
 * horizontal grouped bar chart for the transfer bench. No npm dependency,
 * no external tool.
 */
import { deflateSync } from 'node:zlib';

export type Rgb = readonly [number, number, number];

/** The classic 5×7 font (8 rows with descenders), ASCII 0x20–0x7E: 5 column bytes per glyph, bit 0 at the top. */
const FONT_HEX =
  '0000000000' + '00005f0000' + '0007000700' + '147f147f14' + '242a7f2a12' + '2313086462' + '3649552250' + '0005030000' +
  '001c224100' + '0041221c00' + '14083e0814' + '08083e0808' + '0050300000' + '0808080808' + '0060600000' + '2010080402' +
  '3e5149453e' + '00427f4000' + '4261514946' + '2141454b31' + '1814127f10' + '2745454539' + '3c4a494930' + '0171090503' +
  '3649494936' + '064949291e' + '0036360000' + '0056360000' + '0008142241' + '1414141414' + '4122140800' + '0201510906' +
  '324979413e' + '7e1111117e' + '7f49494936' + '3e41414122' + '7f4141221c' + '7f49494941' + '7f09090901' + '3e4149497a' +
  '7f0808087f' + '00417f4100' + '2040413f01' + '7f08142241' + '7f40404040' + '7f020c027f' + '7f0408107f' + '3e4141413e' +
  '7f09090906' + '3e4151215e' + '7f09192946' + '4649494931' + '01017f0101' + '3f4040403f' + '1f2040201f' + '3f4038403f' +
  '6314081463' + '0708700807' + '6151494543' + '007f414100' + '0204081020' + '0041417f00' + '0402010204' + '4040404040' +
  '0001020400' + '2054545478' + '7f48444438' + '3844444420' + '384444487f' + '3854545418' + '087e090102' + '0c5252523e' +
  '7f08040478' + '00447d4000' + '2040443d00' + '7f10284400' + '00417f4000' + '7c04180478' + '7c08040478' + '3844444438' +
  '7c14141408' + '081414187c' + '7c08040408' + '4854545420' + '043f444020' + '3c4040207c' + '1c2040201c' + '3c4030403c' +
  '4428102844' + '0c5050503c' + '4464544c44' + '0008364100' + '00007f0000' + '0041360800' + '0804081008';

const GLYPHS: Uint8Array = Buffer.from(FONT_HEX, 'hex');
// Lower-case letters with descenders use an 8th row, as in Adafruit's glcdfont.
for (const [ch, hex] of [['g', '18a4a4a47c'], ['j', '4080847d00'], ['p', 'fc24242418'], ['q', '18242418fc'], ['y', '1ca0a0a07c']] as const) {
  Buffer.from(hex, 'hex').copy(GLYPHS, ((ch.codePointAt(0) as number) - 0x20) * 5);
}

/** An RGB raster. */
export class Canvas {
  readonly pixels: Buffer;

  constructor(
    readonly width: number,
    readonly height: number,
    background: Rgb = [255, 255, 255],
  ) {
    this.pixels = Buffer.alloc(width * height * 3);
    this.fillRect(0, 0, width, height, background);
  }

  fillRect(x: number, y: number, w: number, h: number, color: Rgb): void {
    const x0 = Math.max(0, Math.round(x));
    const y0 = Math.max(0, Math.round(y));
    const x1 = Math.min(this.width, Math.round(x + w));
    const y1 = Math.min(this.height, Math.round(y + h));
    for (let yy = y0; yy < y1; yy++) {
      for (let xx = x0; xx < x1; xx++) {
        const i = (yy * this.width + xx) * 3;
        this.pixels[i] = color[0];
        this.pixels[i + 1] = color[1];
        this.pixels[i + 2] = color[2];
      }
    }
  }

  /** Width in pixels of `text` at `scale` (6 px per character incl. spacing, ×scale). */
  static textWidth(text: string, scale: number): number {
    return text.length * 6 * scale - scale;
  }

  /** Draws ASCII text with its top-left corner at (x, y); other characters become '?'. */
  text(x: number, y: number, text: string, scale = 2, color: Rgb = [0, 0, 0]): void {
    let cx = Math.round(x);
    for (const ch of text) {
      let code = ch.codePointAt(0) ?? 63;
      if (code < 0x20 || code > 0x7e) code = 63;
      const g = (code - 0x20) * 5;
      for (let col = 0; col < 5; col++) {
        const bits = GLYPHS[g + col] ?? 0;
        for (let row = 0; row < 8; row++) {
          if (bits & (1 << row)) this.fillRect(cx + col * scale, y + row * scale, scale, scale, color);
        }
      }
      cx += 6 * scale;
    }
  }

  /** Encodes the raster as a PNG (8-bit RGB, no filtering). */
  toPng(): Buffer {
    const stride = this.width * 3;
    const raw = Buffer.alloc((stride + 1) * this.height);
    for (let y = 0; y < this.height; y++) this.pixels.copy(raw, y * (stride + 1) + 1, y * stride, (y + 1) * stride);
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(this.width, 0);
    ihdr.writeUInt32BE(this.height, 4);
    ihdr[8] = 8; // bit depth
    ihdr[9] = 2; // colour type: RGB
    return Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      chunk('IHDR', ihdr),
      chunk('IDAT', deflateSync(raw, { level: 9 })),
      chunk('IEND', Buffer.alloc(0)),
    ]);
  }
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(data: Buffer): number {
  let c = 0xffffffff;
  for (const byte of data) c = (CRC_TABLE[(c ^ byte) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** One bar of the chart. */
export interface Bar {
  series: string;
  value: number;
  min?: number;
  max?: number;
  /** Text after the bar, e.g. `712 (1.45x)`; default: the value. */
  label?: string;
}

/** One group of bars (one path). */
export interface BarGroup {
  label: string;
  bars: Bar[];
}

/** What {@link barChart} draws. */
export interface ChartSpec {
  title: string;
  subtitle?: string;
  unit: string;
  groups: BarGroup[];
  /** Series in legend order, with colours. */
  series: { name: string; color: Rgb }[];
  /** Extra lines under the chart. */
  notes?: string[];
}

/** Renders a horizontal grouped bar chart (whiskers for min–max) as a PNG. */
export function barChart(spec: ChartSpec): Buffer {
  const s = 2; // font scale: 10×14 px glyphs
  const lineH = 9 * s;
  const barH = 22;
  const barGap = 4;
  const groupGap = 18;
  const labelW = Math.max(...spec.groups.map((g) => Canvas.textWidth(g.label, s))) + 24;
  const plotW = 760;
  const valueW = 200;
  const width = Math.max(labelW + plotW + valueW, ...[spec.title, spec.subtitle ?? '', ...(spec.notes ?? [])].map((t) => Canvas.textWidth(t, s) + 32));
  const top = 16 + lineH * (spec.subtitle ? 2 : 1) + 12 + lineH + 16; // title, subtitle, legend
  const groupsH = spec.groups.reduce((h, g) => h + g.bars.length * (barH + barGap) - barGap + groupGap, 0);
  const axisH = 10 + lineH + 8;
  const notesH = (spec.notes?.length ?? 0) * (lineH + 2) + 12;
  const height = top + groupsH + axisH + notesH;
  const c = new Canvas(width, height);

  c.text(16, 16, spec.title, s, [0, 0, 0]);
  if (spec.subtitle) c.text(16, 16 + lineH, spec.subtitle, s, [80, 80, 80]);
  let lx = 16;
  const ly = 16 + lineH * (spec.subtitle ? 2 : 1) + 12;
  for (const series of spec.series) {
    c.fillRect(lx, ly, 14 * s / 2 + 6, 7 * s, series.color);
    lx += 7 * s + 12;
    c.text(lx, ly, series.name, s, [0, 0, 0]);
    lx += Canvas.textWidth(series.name, s) + 28;
  }

  const all = spec.groups.flatMap((g) => g.bars.map((b) => Math.max(b.value, b.max ?? 0)));
  const rawMax = Math.max(1, ...all);
  const step = niceStep(rawMax / 6);
  const scaleMax = Math.ceil(rawMax / step) * step;
  const xOf = (v: number): number => labelW + (v / scaleMax) * plotW;

  // Grid lines and axis labels.
  const plotTop = top - 6;
  const plotBottom = top + groupsH - groupGap + 6;
  for (let v = 0; v <= scaleMax + 1e-9; v += step) {
    const x = Math.round(xOf(v));
    c.fillRect(x, plotTop, 1, plotBottom - plotTop, v === 0 ? [0, 0, 0] : [225, 225, 225]);
    const t = String(Math.round(v));
    c.text(x - Canvas.textWidth(t, s) / 2, plotBottom + 8, t, s, [60, 60, 60]);
  }
  const unit = spec.unit;
  c.text(xOf(scaleMax) - Canvas.textWidth(unit, s), plotBottom + 8 + lineH, unit, s, [60, 60, 60]);

  let y = top;
  for (const group of spec.groups) {
    const blockH = group.bars.length * (barH + barGap) - barGap;
    c.text(labelW - 16 - Canvas.textWidth(group.label, s), y + blockH / 2 - (7 * s) / 2, group.label, s, [0, 0, 0]);
    for (const bar of group.bars) {
      const color = spec.series.find((x) => x.name === bar.series)?.color ?? [128, 128, 128];
      c.fillRect(labelW, y, xOf(bar.value) - labelW, barH, color);
      if (bar.min !== undefined && bar.max !== undefined && bar.max > bar.min) {
        const mid = y + barH / 2;
        c.fillRect(xOf(bar.min), mid - 1, xOf(bar.max) - xOf(bar.min), 2, [30, 30, 30]);
        c.fillRect(xOf(bar.min), mid - 6, 2, 12, [30, 30, 30]);
        c.fillRect(xOf(bar.max) - 2, mid - 6, 2, 12, [30, 30, 30]);
      }
      const text = bar.label ?? String(Math.round(bar.value));
      const tx = Math.max(xOf(bar.value), bar.max !== undefined ? xOf(bar.max) : 0) + 8;
      c.text(tx, y + (barH - 7 * s) / 2, text, s, [0, 0, 0]);
      y += barH + barGap;
    }
    y += groupGap - barGap;
  }

  let ny = plotBottom + 8 + 2 * lineH + 10;
  for (const note of spec.notes ?? []) {
    c.text(16, ny, note, s, [60, 60, 60]);
    ny += lineH + 2;
  }
  return c.toPng();
}

function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}
