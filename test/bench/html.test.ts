import { describe, expect, it } from 'vitest';
import { esc, isHtmlPath, recipeText, renderHtml } from '../../src/bench/html.js';
import type { Report } from '../../src/bench/types.js';
import { NASTY, sampleReport, sampleSensitivity, sampleTune } from './html-fixtures.js';

/**
 * Problems of an XML fragment (an inline SVG): unbalanced or crossed tags, unquoted attributes,
 * a raw `<` or an `&` that starts no entity in text or attribute values. [] = well-formed.
 */
function xmlProblems(xml: string): string[] {
  const problems: string[] = [];
  const stack: string[] = [];
  const token = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|<!--[\s\S]*?-->/g;
  let at = 0;
  const checkText = (s: string, where: string) => {
    if (s.includes('<')) problems.push(`raw < in ${where}: ${s.slice(0, 60)}`);
    const amp = s.match(/&(?!(?:amp|lt|gt|quot|#\d+|#x[0-9a-f]+);)/i);
    if (amp) problems.push(`bare & in ${where}: ${s.slice(0, 60)}`);
  };
  for (let m = token.exec(xml); m; m = token.exec(xml)) {
    checkText(xml.slice(at, m.index), 'text');
    at = m.index + m[0].length;
    if (m[0].startsWith('<!--')) continue;
    const [, close, name, attrs, self] = m;
    for (const a of attrs.matchAll(/="([^"]*)"/g)) checkText(a[1], `an attribute of <${name}>`);
    if (close) {
      const open = stack.pop();
      if (open !== name) problems.push(`</${name}> closes <${open}>`);
    } else if (!self) stack.push(name);
  }
  checkText(xml.slice(at), 'text');
  if (stack.length) problems.push(`unclosed: ${stack.join(', ')}`);
  return problems;
}

const svgs = (html: string) => html.match(/<svg[\s\S]*?<\/svg>/g) ?? [];
const sectionIds = (html: string) => [...html.matchAll(/<section id="([\w-]+)"/g)].map((m) => m[1]);

describe('renderHtml', () => {
  it('draws a compress report: summary, size by layer and dtype, per layer, latency; every SVG well-formed; no script, no external reference', async () => {
    const r = await sampleReport();
    const html = renderHtml({ report: r });
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(sectionIds(html)).toEqual(['summary', 'size', 'layers', 'latency']);
    // the node name with markup is shown as text, never as markup
    expect(html).not.toMatch(/<script/i);
    expect(html).toContain(esc(NASTY));
    expect(html).not.toContain(NASTY);
    // nothing to fetch: the only URL is the SVG namespace
    expect(html.match(/https?:\/\/[^"\s<]+/g)?.filter((u) => u !== 'http://www.w3.org/2000/svg') ?? []).toEqual([]);
    expect(html).not.toMatch(/<link|<img|<iframe|\ssrc=|url\(|@import/i);
    expect(html).toContain('prefers-color-scheme:dark');
    const charts = svgs(html);
    expect(charts.length).toBeGreaterThanOrEqual(5);
    for (const s of charts) {
      expect(xmlProblems(s)).toEqual([]);
      expect(s).toMatch(/^<svg [^>]*role="img"[^>]*><title id="[^"]+">[^<]+<\/title><desc/);
    }
    // the figures of the text report: sizes, speedup with its interval, accuracy, gates
    expect(html).toContain('Speedup (p50): <strong>');
    expect(html).toContain('95% interval 1.55x–1.75x');
    expect(html).toContain('accuracy (top-1)');
    expect(html).toMatch(/max-accuracy-drop/);
    expect(html).toMatch(/id="summary"[\s\S]*passed/);
    // per layer: the pruned and quantized layers, their sparsity (≈ 50%) and weight error
    expect(html).toContain('<h3>Sparsity after</h3>');
    expect(html).toContain('<h3>Weight error</h3>');
    expect(html).toMatch(/Gemm → DynamicQuantizeMatMul/);
    expect(html).toContain('prune.sparsity');
    // the latency histogram has one bar title per non-empty bin of each model
    expect(html).toMatch(/<title>before: \d+ run\(s\) in /);
    expect(html).toMatch(/<title>after: \d+ run\(s\) in /);
  });

  it('leaves out what it is not given, and draws sensitivity bars and the Pareto front with the chosen point', async () => {
    const r = await sampleReport();
    const bare: Report = { ...r, layers: undefined, before: { ...r.before, latencyMs: null }, after: r.after && { ...r.after, latencyMs: null }, speedup: null };
    expect(sectionIds(renderHtml({ report: bare }))).toEqual(['summary', 'size']);

    const s = renderHtml({ sensitivity: sampleSensitivity() });
    expect(sectionIds(s)).toEqual(['sensitivity']);
    expect(s).toContain('<title>mlc sensitivity</title>');
    expect(s).not.toContain(NASTY);
    // sorted by drop, most sensitive first; the unmeasured row is shown as such
    const drops = [...s.matchAll(/<title>[^<]*?: ([\d.]+) pts accuracy drop/g)].map((m) => Number(m[1]));
    expect(drops.length).toBe(8);
    expect(drops).toEqual([...drops].sort((a, b) => b - a));
    expect(s).toMatch(/accuracy drop not measured/);

    const t = renderHtml({ tune: sampleTune() });
    expect(sectionIds(t)).toEqual(['pareto']);
    expect(t).toContain('class="chosen"');
    expect(t).toContain('Chosen: <strong>prune sparsity=0.5 · quantize type=int8</strong>');
    expect(t).toContain('class="budget"');
    expect(t).toContain('<polyline class="front"');
    for (const x of svgs(t)) expect(xmlProblems(x)).toEqual([]);
    const none = renderHtml({ tune: sampleTune(false) });
    expect(none).toContain('No candidate met the budget: the original model is kept.');
    expect(none).not.toContain('class="chosen"');

    const all = renderHtml({ report: r, sensitivity: sampleSensitivity(), tune: sampleTune(), title: `tuned ${NASTY}` });
    expect(sectionIds(all)).toEqual(['summary', 'size', 'layers', 'sensitivity', 'pareto', 'latency']);
    expect(all).toContain(`<title>tuned ${esc(NASTY)}</title>`);
    for (const x of svgs(all)) expect(xmlProblems(x)).toEqual([]);
  });

  it('degenerate inputs still give a well-formed page: no rows, no candidates, identical runs', async () => {
    const r = await sampleReport();
    const flat = { ...r.before.latencyMs!, samples: Array(50).fill(0.2), p50: 0.2, p90: 0.2, p99: 0.2, p50Ci: null };
    const pages = [
      renderHtml({ sensitivity: { ...sampleSensitivity(), rows: [] } }),
      renderHtml({ tune: { ...sampleTune(false), candidates: [] } }),
      renderHtml({ report: { ...r, before: { ...r.before, latencyMs: flat }, after: null, speedup: null, layers: { before: [], after: null } } }),
    ];
    for (const page of pages) {
      expect(page).not.toMatch(/NaN|undefined|Infinity/);
      for (const x of svgs(page)) expect(xmlProblems(x)).toEqual([]);
    }
  });

  it('the checker itself finds what is wrong', () => {
    expect(xmlProblems('<svg><g><rect x="1"/></g></svg>')).toEqual([]);
    expect(xmlProblems('<svg><g></svg>')).not.toEqual([]);
    expect(xmlProblems('<svg><text>a < b</text></svg>')).not.toEqual([]);
    expect(xmlProblems('<svg><text>a & b</text></svg>')).not.toEqual([]);
    expect(xmlProblems('<svg><text>a &amp; b</text></svg>')).toEqual([]);
  });

  it('helpers: escaping, recipe text, which paths are HTML', () => {
    expect(esc(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    expect(recipeText([])).toBe('(the original model)');
    expect(recipeText([{ pass: 'quantize', options: { type: 'int8', exclude: ['a', 'b'] } }, { pass: 'prune', sparsity: 0.5 }])).toBe(
      'quantize type=int8 exclude=a,b · prune sparsity=0.5',
    );
    expect(['r.html', 'R.HTM', 'x/y.Html'].map(isHtmlPath)).toEqual([true, true, true]);
    expect(['r.md', 'r.html.md', 'html', 'r.xhtml5'].map(isHtmlPath)).toEqual([false, false, false, false]);
  });
});
