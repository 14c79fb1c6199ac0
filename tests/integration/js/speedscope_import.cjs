// SPDX-License-Identifier: MIT
// Open a profile in speedscope's own app (from its npm package) in headless Chromium.
//
//   NODE_PATH=<node_modules> node speedscope_import.cjs FILE [SCREENSHOT.png]
//
// Loads dist/release/index.html from the package, gives FILE to its file
// input as a person's "Browse" would, and prints JSON: the page title, the
// visible text (speedscope names the profile shown and "(i/n)" there), the
// console, page errors and dialogs.  Schema checks cannot tell whether
// speedscope's importer accepts the file; this does.
'use strict';
const path = require('path');
const { openPage } = require('./browser.cjs');

async function main(file, shot) {
	const dir = path.dirname(require.resolve('speedscope/package.json'));
	const out = { console: [], errors: [], dialogs: [] };
	const { browser, page } = await openPage(out);
	try {
		page.on('dialog', (d) => { out.dialogs.push(d.message()); d.dismiss(); });
		await page.goto('file://' + path.join(dir, 'dist', 'release', 'index.html'));
		await page.setInputFiles('input[type=file]', path.resolve(file));
		// The title changes from "speedscope" once a profile is shown.
		await page.waitForFunction(() => document.title !== 'speedscope', null,
					   { timeout: 15000 }).catch(() => {});
		out.title = await page.title();
		out.text = await page.evaluate(() => document.body.innerText);
		if (shot)
			await page.screenshot({ path: shot });
	} finally {
		await browser.close();
	}
	console.log(JSON.stringify(out));
}

main(process.argv[2], process.argv[3]).catch((e) => {
	console.error(e.stack || String(e));
	process.exitCode = 1;
});
