/* SPDX-License-Identifier: MIT */
/*
 * svg_js.h - the style sheet and script embedded in every flame graph SVG
 * (included by svg.c only).
 *
 * The script needs no library and no network: the file must work when
 * opened straight from disk.  It reads each frame's geometry from its
 * <rect> once, so the C side stays the only place that lays frames out;
 * svg.c defines X0, FW, CW, TY and MATCH in front of it.  Frames are
 * <g><title/><rect/><text/></g> in #frames; a label that did not fit is in
 * the g's data-l attribute.
 */
#ifndef PYSPY_OUTPUT_SVG_JS_H
#define PYSPY_OUTPUT_SVG_JS_H

static const char svg_css[] =
	"text{font-family:Verdana,'DejaVu Sans',sans-serif;font-size:12px;fill:#000}\n"
	"#title{font-size:17px;text-anchor:middle}\n"
	"#subtitle{fill:#555;text-anchor:middle}\n"
	"#search,#matched{text-anchor:end}\n"
	".btn{cursor:pointer;fill:#1a4d99}\n"
	".btn:hover{text-decoration:underline}\n"
	"#frames g{cursor:pointer}\n"
	"#frames g:hover rect{stroke:#000;stroke-width:.5}\n"
	"#frames text{pointer-events:none}\n"
	".h{display:none}\n"
	".anc{opacity:.5}\n";

static const char svg_script[] =
	"var NS='http://www.w3.org/2000/svg';\n"
	"var gs, n, ox, ow, oy, lab, what, fills, searching = false;\n"
	"function el(id) { return document.getElementById(id); }\n"
	/* Labels are cut the same way svg.c cuts them. */
	"function fit(s, w) {\n"
	"  var k = Math.floor((w - 6) / CW);\n"
	"  if (k < 3) return '';\n"
	"  return s.length <= k ? s : s.slice(0, k - 1) + '\\u2026';\n"
	"}\n"
	"function place(i, x, w) {\n"
	"  var g = gs[i], r = g.children[1], t = g.children[2], s = fit(lab[i], w);\n"
	"  r.setAttribute('x', x.toFixed(2));\n"
	"  r.setAttribute('width', w.toFixed(2));\n"
	"  if (!t) {\n"
	"    if (!s) return;\n"
	"    t = document.createElementNS(NS, 'text');\n"
	"    t.setAttribute('y', (oy[i] + TY).toFixed(1));\n"
	"    g.appendChild(t);\n"
	"  }\n"
	"  t.setAttribute('x', (x + 3).toFixed(2));\n"
	"  t.textContent = s;\n"
	"}\n"
	/* The frame (a child of #frames) that an event target belongs to. */
	"function frameOf(t) {\n"
	"  while (t && t.parentNode && t.parentNode.id !== 'frames') t = t.parentNode;\n"
	"  return t && t.parentNode && t._i !== undefined ? t : null;\n"
	"}\n"
	/*
	 * Zoom on frame k: it and what is above it inside its span stretch to
	 * the full width; the frames below it that span it (its ancestors)
	 * stay, dimmed, at full width; everything else hides.  The tolerance
	 * absorbs the 2-decimal rounding of the coordinates, far below the
	 * narrowest frame drawn.  Frame 0 is the root: a click there resets.
	 */
	"function zoom(k) {\n"
	"  var x0 = ox[k], w0 = ow[k], y0 = oy[k], sc = FW / w0, e = 0.015;\n"
	"  if (k === 0) { unzoom(); return; }\n"
	"  for (var i = 0; i < n; i++) {\n"
	"    var c = gs[i].classList, x = ox[i], w = ow[i], show = true, anc = false;\n"
	"    if (oy[i] > y0) {\n"
	"      anc = x <= x0 + e && x + w >= x0 + w0 - e;\n"
	"      if (anc) place(i, X0, FW); else show = false;\n"
	"    } else if (x >= x0 - e && x + w <= x0 + w0 + e) {\n"
	"      place(i, X0 + (x - x0) * sc, w * sc);\n"
	"    } else {\n"
	"      show = false;\n"
	"    }\n"
	"    c.toggle('h', !show);\n"
	"    c.toggle('anc', anc);\n"
	"  }\n"
	"  el('unzoom').classList.remove('h');\n"
	"}\n"
	"function unzoom() {\n"
	"  for (var i = 0; i < n; i++) {\n"
	"    gs[i].classList.remove('h', 'anc');\n"
	"    place(i, ox[i], ow[i]);\n"
	"  }\n"
	"  el('unzoom').classList.add('h');\n"
	"}\n"
	/*
	 * Highlight the frames whose name or location matches; the share is the
	 * union of their spans, so a match nested in a match counts once.
	 */
	"function search(term) {\n"
	"  var re, iv = [], tot = 0, end = -1;\n"
	"  try { re = new RegExp(term); }\n"
	"  catch (err) { re = new RegExp(term.replace(/[.*+?^${}()|[\\]\\\\]/g, '\\\\$&')); }\n"
	"  for (var i = 0; i < n; i++) {\n"
	"    var hit = re.test(what[i]);\n"
	"    gs[i].children[1].setAttribute('fill', hit ? MATCH : fills[i]);\n"
	"    if (hit) iv.push([ox[i], ox[i] + ow[i]]);\n"
	"  }\n"
	"  iv.sort(function (a, b) { return a[0] - b[0]; });\n"
	"  iv.forEach(function (v) {\n"
	"    if (v[1] > end) { tot += v[1] - Math.max(v[0], end); end = v[1]; }\n"
	"  });\n"
	"  el('matched').textContent = 'Matched: ' + (100 * tot / FW).toFixed(1) + '%';\n"
	"  el('search').textContent = 'Reset Search';\n"
	"  searching = true;\n"
	"}\n"
	"function resetSearch() {\n"
	"  for (var i = 0; i < n; i++) gs[i].children[1].setAttribute('fill', fills[i]);\n"
	"  el('matched').textContent = ' ';\n"
	"  el('search').textContent = 'Search';\n"
	"  searching = false;\n"
	"}\n"
	"function askSearch() {\n"
	"  var s = prompt('Search frames (regular expression)', '');\n"
	"  if (s) search(s);\n"
	"}\n"
	"function init() {\n"
	"  gs = el('frames').children;\n"
	"  n = gs.length;\n"
	"  ox = []; ow = []; oy = []; lab = []; what = []; fills = [];\n"
	"  for (var i = 0; i < n; i++) {\n"
	"    var g = gs[i], r = g.children[1], t = g.children[2], tt = g.children[0].textContent;\n"
	"    g._i = i;\n"
	"    ox[i] = +r.getAttribute('x');\n"
	"    ow[i] = +r.getAttribute('width');\n"
	"    oy[i] = +r.getAttribute('y');\n"
	"    fills[i] = r.getAttribute('fill');\n"
	"    lab[i] = g.getAttribute('data-l') || (t ? t.textContent : '');\n"
	/* Search the name and location, not the sample counts after the dash. */
	"    what[i] = tt.slice(0, tt.lastIndexOf(' \\u2014 '));\n"
	"  }\n"
	"  var fr = el('frames'), det = el('details');\n"
	"  fr.addEventListener('click', function (e) {\n"
	"    var g = frameOf(e.target);\n"
	"    if (g) zoom(g._i);\n"
	"  });\n"
	"  fr.addEventListener('mouseover', function (e) {\n"
	"    var g = frameOf(e.target);\n"
	"    if (g) det.textContent = g.children[0].textContent;\n"
	"  });\n"
	"  fr.addEventListener('mouseout', function () { det.textContent = ' '; });\n"
	"  el('unzoom').addEventListener('click', unzoom);\n"
	"  el('search').addEventListener('click', function () {\n"
	"    if (searching) resetSearch(); else askSearch();\n"
	"  });\n"
	"  window.addEventListener('keydown', function (e) {\n"
	"    if ((e.ctrlKey || e.metaKey) && (e.key === 'f' || e.key === 'F')) {\n"
	"      e.preventDefault();\n"
	"      askSearch();\n"
	"    } else if (e.key === 'Escape') {\n"
	"      if (searching) resetSearch(); else unzoom();\n"
	"    }\n"
	"  });\n"
	"}\n"
	"init();\n";

#endif /* PYSPY_OUTPUT_SVG_JS_H */
