// SPDX-License-Identifier: MIT
// Drive a flame graph SVG in headless Chromium and report what a person would see.
//
//   NODE_PATH=<node_modules> node svg_probe.cjs FILE.svg 'ACTIONS-JSON'
//
// ACTIONS is a list run in order; each pushes one result:
//   {"op": "state"}                      every frame (title, label, x, width, y,
//                                        fill, hidden, dimmed) and the status texts
//   {"op": "click", "prefix": "hot_loop ("}   click the first visible frame whose
//                                        title starts with prefix
//   {"op": "hover", "prefix": "..."}     move the mouse over such a frame
//   {"op": "search", "term": "hot"}      Ctrl-F, answer the prompt with term
//   {"op": "key", "key": "Escape"}
//   {"op": "button", "id": "unzoom"}     click a text button by id
//   {"op": "screenshot", "path": "x.png"}   (and "clip": {x, y, width, height})
// Prints {"results": [...], "console": [...], "errors": [...]} as JSON.
'use strict';
const path = require('path');
const { openPage } = require('./browser.cjs');

function state(page) {
	return page.evaluate(() => {
		const frames = [];
		for (const g of document.getElementById('frames').children) {
			const r = g.children[1];
			const t = g.querySelector('text');
			frames.push({
				title: g.children[0].textContent,
				label: t ? t.textContent : '',
				x: +r.getAttribute('x'),
				width: +r.getAttribute('width'),
				y: +r.getAttribute('y'),
				fill: r.getAttribute('fill'),
				hidden: getComputedStyle(g).display === 'none',
				dimmed: g.classList.contains('anc'),
			});
		}
		const text = (id) => document.getElementById(id).textContent;
		const shown = (id) => getComputedStyle(document.getElementById(id)).display !== 'none';
		return { frames, details: text('details'), matched: text('matched'),
			 search: text('search'), unzoom_shown: shown('unzoom'),
			 title: text('title'), subtitle: text('subtitle') };
	});
}

async function frameBox(page, prefix) {
	const frames = page.locator('#frames > g');
	const n = await frames.count();
	for (let i = 0; i < n; i++) {
		const g = frames.nth(i);
		const title = await g.locator('title').textContent();
		if (title.startsWith(prefix) && await g.isVisible())
			return g.locator('rect').boundingBox();
	}
	throw new Error('no visible frame titled ' + prefix + '...');
}

async function run(page, a) {
	switch (a.op) {
	case 'state':
		return state(page);
	case 'click':
	case 'hover': {
		const b = await frameBox(page, a.prefix);
		const x = b.x + b.width / 2, y = b.y + b.height / 2;
		if (a.op === 'click')
			await page.mouse.click(x, y);
		else
			await page.mouse.move(x, y);
		return { x, y };
	}
	case 'search': {
		let asked = null;
		page.once('dialog', (d) => { asked = d.message(); d.accept(a.term); });
		await page.keyboard.press('Control+f');
		await page.waitForFunction(() =>
			document.getElementById('search').textContent === 'Reset Search',
			null, { timeout: 5000 });
		return { prompt: asked };
	}
	case 'key':
		await page.keyboard.press(a.key);
		return {};
	case 'button':
		await page.locator('#' + a.id).click();
		return {};
	case 'screenshot':
		await page.screenshot(a.clip ? { path: a.path, clip: a.clip } : { path: a.path });
		return { path: a.path };
	}
	throw new Error('unknown op ' + a.op);
}

async function main(file, actions) {
	const out = { results: [], console: [], errors: [] };
	const { browser, page } = await openPage(out);
	try {
		await page.goto('file://' + path.resolve(file));
		for (const a of actions)
			out.results.push(await run(page, a));
	} finally {
		await browser.close();
	}
	console.log(JSON.stringify(out));
}

main(process.argv[2], JSON.parse(process.argv[3] || '[{"op":"state"}]')).catch((e) => {
	console.error(e.stack || String(e));
	process.exitCode = 1;
});
