// SPDX-License-Identifier: MIT
// Validate speedscope files against the schema shipped in speedscope's own npm package.
//
//   NODE_PATH=<node_modules> node validate_speedscope.cjs FILE...
//
// Prints one JSON object: the schema's path, the package versions used,
// and for each file whether it is valid and Ajv's errors.  Exit 0 when
// every file is valid, 1 when one is not, 2 on a usage or setup error.
'use strict';
const fs = require('fs');
const path = require('path');

function pkg(name) {
	const dir = path.dirname(require.resolve(name + '/package.json'));
	return { dir, version: require(name + '/package.json').version };
}

function main(files) {
	if (!files.length) {
		console.error('usage: validate_speedscope.cjs FILE...');
		return 2;
	}
	const Ajv = require('ajv');
	const addFormats = require('ajv-formats');
	const ss = pkg('speedscope');
	const schemaPath = path.join(ss.dir, 'dist', 'release', 'file-format-schema.json');
	const schema = JSON.parse(fs.readFileSync(schemaPath, 'utf8'));
	// strict: false only because the schema puts titles beside $ref, which
	// draft-07 allows; every validation keyword is still enforced.
	const ajv = new Ajv({ allErrors: true, strict: false });
	addFormats(ajv);
	const validate = ajv.compile(schema);
	const out = {
		schema: schemaPath,
		versions: { speedscope: ss.version, ajv: pkg('ajv').version,
			    'ajv-formats': pkg('ajv-formats').version, node: process.version },
		files: [],
	};
	let ok = true;
	for (const f of files) {
		const valid = validate(JSON.parse(fs.readFileSync(f, 'utf8')));
		ok = ok && valid;
		out.files.push({ file: f, valid, errors: validate.errors || [] });
	}
	console.log(JSON.stringify(out));
	return ok ? 0 : 1;
}

process.exitCode = main(process.argv.slice(2));
