// Bundle the app's browser assets the way `bench build` does (Frappe 15, esbuild/esbuild.js), so the
// pages load the same files on benchless and on a bench.
//
// - Entry points: every dartwing/public/**/*.bundle.{js,css} (dist/ and node_modules/ excluded).
// - Output: sites/assets/dartwing/dist/{js,css}/<name>.bundle.<hash>.{js,css} with source maps; like
//   a bench, sites/assets/dartwing is a link to dartwing/public (so the files land in public/dist/).
// - npm imports (socket.io-client) resolve from the app's node_modules (Frappe's nodePaths).
// - sites/assets/assets.json maps "<name>.bundle.js" to its hashed path, merged with what is there,
//   which is what include_script / include_style read. Older hashed outputs are removed.
const fs = require("fs");
const path = require("path");
const esbuild = require("esbuild");

const ROOT = path.resolve(__dirname, "..");
const APP = "dartwing";
const PUBLIC = path.join(ROOT, APP, "public");
const ASSETS = path.join(ROOT, "sites", "assets");
const STYLE_EXTENSIONS = new Set([".css"]);

function bundleFiles(dir) {
	const found = [];
	for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
		const full = path.join(dir, entry.name);
		if (entry.isDirectory()) {
			if (entry.name !== "dist" && entry.name !== "node_modules") {
				found.push(...bundleFiles(full));
			}
		} else if (/\.bundle\.(js|css)$/.test(entry.name)) {
			found.push(full);
		}
	}
	return found;
}

function linkAppAssets() {
	fs.mkdirSync(ASSETS, { recursive: true });
	const link = path.join(ASSETS, APP);
	const target = path.relative(ASSETS, PUBLIC);
	let current = null;
	try {
		current = fs.readlinkSync(link);
	} catch {
		if (fs.existsSync(link)) {
			throw new Error(`${link} exists and is not a link to ${PUBLIC}`);
		}
	}
	if (current !== target) {
		if (current !== null) {
			fs.unlinkSync(link);
		}
		fs.symlinkSync(target, link);
	}
}

function entryPoints(files) {
	const entries = {};
	for (const file of files) {
		const extension = path.extname(file);
		const kind = STYLE_EXTENSIONS.has(extension) ? "css" : "js";
		entries[path.join(APP, "dist", kind, path.basename(file, extension))] = file;
	}
	return entries;
}

async function main() {
	linkAppAssets();
	const files = bundleFiles(PUBLIC);
	for (const kind of ["js", "css"]) {
		fs.rmSync(path.join(PUBLIC, "dist", kind), { recursive: true, force: true });
	}
	const result = await esbuild.build({
		entryPoints: entryPoints(files),
		entryNames: "[dir]/[name].[hash]",
		outdir: ASSETS,
		target: ["es2017"],
		bundle: true,
		sourcemap: true,
		minify: true,
		metafile: true,
		nodePaths: [path.join(ROOT, "node_modules")],
		logLevel: "warning",
		absWorkingDir: ROOT,
	});
	const manifest = {};
	for (const [output, info] of Object.entries(result.metafile.outputs)) {
		if (info.entryPoint) {
			manifest[path.basename(info.entryPoint)] = "/" + path.relative(path.dirname(ASSETS), path.resolve(ROOT, output));
		}
	}
	const manifestPath = path.join(ASSETS, "assets.json");
	let previous = {};
	try {
		previous = JSON.parse(fs.readFileSync(manifestPath, "utf-8"));
	} catch {
		previous = {};
	}
	fs.writeFileSync(manifestPath, JSON.stringify({ ...previous, ...manifest }, null, 4));
	for (const [name, asset] of Object.entries(manifest)) {
		console.log(`${name} -> ${asset}`);
	}
}

main().catch((error) => {
	console.error(error);
	process.exit(1);
});
