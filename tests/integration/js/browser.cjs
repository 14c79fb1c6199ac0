// SPDX-License-Identifier: MIT
// The headless Chromium the probes drive (speedscope_import.cjs, svg_probe.cjs):
// Debian's browser through playwright-core, without the network or a sandbox,
// one page of 1200x800 whose console lines and errors go into out.
'use strict';
const { chromium } = require('playwright-core');

const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
	       '--disable-background-networking', '--disable-component-update',
	       '--disable-sync'];

// { browser, page }: the caller closes the browser (in a finally).
async function openPage(out) {
	const browser = await chromium.launch({
		executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
		headless: true, args: FLAGS,
	});
	try {
		const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
		page.on('console', (m) => out.console.push(m.type() + ': ' + m.text()));
		page.on('pageerror', (e) => out.errors.push(String(e)));
		return { browser, page };
	} catch (e) {
		await browser.close();
		throw e;
	}
}

module.exports = { openPage };
